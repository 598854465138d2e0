"""What starts kalman work (sensors and schedules); collected by `definitions.py`."""
