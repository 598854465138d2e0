"""The declarative mapping from CTS image *name* (no tag, no digest) to importer name.

This literal dict, reviewed like any code, is the only way an image gets an importer:
nothing in a Kafka message, a job document or the environment can name a module.
To add an importer: write ``importers/<name>.py`` with an ``IMPORTER``, add it to
``IMPORTER_MODULES`` in ``platform_assets/cts/registry.py`` and map its image here.
"""

IMPORTER_BY_IMAGE: dict[str, str] = {
    "ghcr.io/kbasetest/cdm_checkm2": "checkm2",
    "ghcr.io/kbasetest/cdm_gtdbtk": "gtdbtk",
}
