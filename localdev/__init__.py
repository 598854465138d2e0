"""Everything `python -m localdev` starts for a laptop run that is not product code:
the embedded Kafka broker, the CTS emulator and the demo data seeders' driver."""
