"""The declarative mapping from CTS image *name* (no tag, no digest) to importer name.

This literal dict, reviewed like any code, is the only way an image gets an importer:
nothing in a Kafka message, a job document or the environment can name a module.
To add an importer: write ``importers/<name>.py`` with an ``IMPORTER``, add the module
to the static import line of ``platform_assets/cts/registry.py`` (and its ``IMPORTERS``
tuple) and map its image here; a consistency check fails loading otherwise.
"""

IMPORTER_BY_IMAGE: dict[str, str] = {
    "ghcr.io/kbasetest/cdm_checkm2": "checkm2",
    "ghcr.io/kbasetest/cdm_gtdbtk": "gtdbtk",
}
