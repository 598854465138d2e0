"""What starts Kalman work: new or changed case folders in blob storage."""

from __future__ import annotations

import dagster as dg

from sensors.kalman.cases import kalman_case_sensor

defs = dg.Definitions(sensors=[kalman_case_sensor])
