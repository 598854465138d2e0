"""What starts NLP work: the daily schedule (on demand: `nlp_similarity_job` from the UI)."""

from __future__ import annotations

import dagster as dg

from sensors.nlp.daily import nlp_daily_schedule

defs = dg.Definitions(schedules=[nlp_daily_schedule])
