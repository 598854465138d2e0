"""The NLP family: duplicate goals per recipient, on demand (`nlp_similarity_job`) and
daily (`sensors/nlp/`)."""

from __future__ import annotations

import dagster as dg

from platform_assets.nlp.assets import goal_similarity_groups, goals
from platform_assets.nlp.jobs import nlp_similarity_job
from resources.nlp import nlp_resources

defs = dg.Definitions(assets=[goals, goal_similarity_groups], jobs=[nlp_similarity_job], resources=nlp_resources())
