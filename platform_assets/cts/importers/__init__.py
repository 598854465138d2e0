"""CTS importers: one module per CTS tool, each declaring one ``IMPORTER``;
``registry.py`` finds them and maps image names to them."""
