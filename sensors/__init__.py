"""Sensors: Kafka (CTS job events), blob storage (Kalman cases), run failure -> DLQ, DLQ replay.
Each family's definitions import the sensors it owns."""
