"""tradepipe connectors package."""
