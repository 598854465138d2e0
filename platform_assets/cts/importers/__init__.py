"""CTS importers: one module per CTS tool; ``registry.py`` maps image names to them."""
