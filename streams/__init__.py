"""tradepipe streams package."""
