"""tradepipe schemas package."""
