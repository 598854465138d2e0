"""The asset platform: one folder per workload family plus the provenance core.

Importing this package is cheap; the code location is `platform_assets.definitions:defs`.
"""
