"""The Postgres sink's parts: table layout, the batch transaction, the audit chain, the cluster id.

``connectors.postgres_sink.PostgresSink`` is the entry point; these modules are its pieces.
"""

__all__: list[str] = []
