"""Instance-level plugins for the local, durable deployment (referenced from dagster.yaml)."""
