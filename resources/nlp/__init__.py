"""Resources of the NLP family: the goals database (`nlp_resources()`, key `goals_db`)."""

from __future__ import annotations

from typing import Any

from resources.nlp.goals_db import GoalsDatabase
from resources.settings import PlatformSettings, from_env, settings


def nlp_resources(current: PlatformSettings | None = None) -> dict[str, Any]:
    current = current or settings()
    return {"goals_db": GoalsDatabase(url=from_env("GOALS_DATABASE_URL", current.goals_database_url))}
