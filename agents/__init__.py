"""tradepipe agents package."""
