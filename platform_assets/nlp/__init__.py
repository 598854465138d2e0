"""NLP family: near-duplicate grant goals per recipient (see docs/nlp.md)."""
