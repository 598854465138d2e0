"""Processing state the platform records on a CTS job (``PUT /admin/jobs/{id}/meta``).

Field names share one prefix so operators can find (and the CTS can show) what the
platform did with a job: started, completed, failed, or nothing to import.
"""

from __future__ import annotations

import datetime as dt

META_PREFIX = "odp_import"
META_START = f"{META_PREFIX}_start"
META_COMPLETE = f"{META_PREFIX}_complete"
META_ERROR = f"{META_PREFIX}_error"
META_NO_OPERATION = f"{META_PREFIX}_no_operation"


def utc_now() -> str:
    """The timestamp recorded in those fields: UTC ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat()
