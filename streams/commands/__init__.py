"""The ``tradepipe`` sub-commands, one module each."""
