"""A loopback server speaking the few routes of Confluent's Schema Registry REST API that
``confluent_kafka.schema_registry`` calls. The real registry (JVM) cannot run here."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeSchemaRegistry"]


class FakeSchemaRegistry:
    """Register, look up and fetch Avro schemas by id, in memory."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeSchemaRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _id_for(self, text: str) -> int:
        canonical = json.dumps(json.loads(text), sort_keys=True)
        for schema_id, existing in self.schemas.items():
            if existing == canonical:
                return schema_id
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = canonical
        return schema_id

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
                    schema_id = registry._id_for(body["schema"])
                    ids = registry.subjects.setdefault(parts[1], [])
                    if schema_id not in ids:
                        ids.append(schema_id)
                    self._reply(200, {"id": schema_id})
                elif len(parts) == 2 and parts[0] == "subjects":
                    canonical = json.dumps(json.loads(body["schema"]), sort_keys=True)
                    for version, schema_id in enumerate(registry.subjects.get(parts[1], []), 1):
                        if registry.schemas[schema_id] == canonical:
                            self._reply(
                                200,
                                {
                                    "subject": parts[1],
                                    "id": schema_id,
                                    "version": version,
                                    "schema": body["schema"],
                                },
                            )
                            return
                    self._reply(404, {"error_code": 40403, "message": "Schema not found"})
                else:
                    self._reply(404, {"error_code": 404, "message": "not found"})

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    text = registry.schemas.get(int(parts[2]))
                    if text is None:
                        self._reply(404, {"error_code": 40403, "message": "Schema not found"})
                    else:
                        self._reply(200, {"schema": text})
                else:
                    self._reply(404, {"error_code": 404, "message": "not found"})

        return Handler
