"""CTS family: import CDM Task Service job outputs into Delta Lake tables."""

# who answers for this family's assets (shown in the UI, used for alerts); applied to every
# asset of the family by platform_assets/families.py
OWNERS = ["team:cdm-bioinformatics"]
