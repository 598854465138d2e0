"""What starts runs, one folder per family (`sensors/<family>/definitions.py`): Kafka job
events and failure/DLQ sensors (cts), new case folders (kalman), the daily schedule (nlp).
Nothing imports this package except the code location's assembly
(`platform_assets/families.py`)."""
