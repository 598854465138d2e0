"""What starts NLP work: the daily schedule (on demand: `nlp_similarity_job` from the UI),
and the observation of the goals database (`nlp/goals`) at start and on every change."""

from __future__ import annotations

import dagster as dg

from sensors.nlp.daily import nlp_daily_schedule
from sensors.nlp.goals_observation import nlp_goals_observation

defs = dg.Definitions(schedules=[nlp_daily_schedule], sensors=[nlp_goals_observation])
