"""NLP family: near-duplicate grant goals per recipient (see docs/nlp.md)."""

# who answers for this family's assets (shown in the UI, used for alerts); applied to every
# asset of the family by platform_assets/families.py
OWNERS = ["team:grants-analytics"]
