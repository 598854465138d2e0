"""What starts cts work (sensors and schedules); collected by `definitions.py`."""
