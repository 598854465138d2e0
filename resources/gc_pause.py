"""Pausing Python's cyclic garbage collector through a burst of allocations.

Python starts a full collection after a fixed number of surviving allocations, and each
one walks every tracked object in the process: ~120,000 once Dagster is imported, far
more with a code location loaded. A burst that allocates much and frees little (loading
the code location; a sensor tick holding 20,000 messages while it fetches thousands of
job documents) pays several such walks for nothing. Reference counting still frees
everything that is not in a cycle; cycles wait until the block ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block (nesting is fine); the collector's previous
    state afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
