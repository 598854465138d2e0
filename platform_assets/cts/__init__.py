"""CTS family: import CDM Task Service job outputs into Delta Lake tables."""
