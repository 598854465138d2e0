"""Suite-wide isolation: every test session gets its own PLATFORM_HOME, and nothing a
developer has exported for `dagster dev` leaks into the tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_session_home = Path(tempfile.mkdtemp(prefix="platform-test-home-"))
os.environ["PLATFORM_HOME"] = str(_session_home)
os.environ.pop("PLATFORM_ENV", None)
for _name in ("PLATFORM_BLOB_URL", "PLATFORM_LAKE_URL", "DAGSTER_HOME"):
    os.environ.pop(_name, None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
