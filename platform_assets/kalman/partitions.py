"""One dynamic partition per case folder `$PLATFORM_BLOB_URL/kalman/cases/<case>/`,
added by `kalman_case_sensor` when a complete case appears."""

import dagster as dg

KALMAN_CASES = "kalman_cases"
kalman_cases = dg.DynamicPartitionsDefinition(name=KALMAN_CASES)
