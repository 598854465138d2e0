"""What starts nlp work (sensors and schedules); collected by `definitions.py`."""
