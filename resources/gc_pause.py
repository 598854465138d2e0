"""Pausing Python's cyclic garbage collector through a burst of allocations.

Python starts a full collection after a fixed number of surviving allocations, and each
one walks every tracked object in the process: ~120,000 once Dagster is imported, far
more with a code location loaded. Loading the code location allocates much and frees
little, so it paid several such walks for nothing: `platform_assets/definitions.py` loads
inside this block, then freezes what it loaded (`gc.freeze()`), so that later collections
(a sensor tick, a run) walk only what was allocated since. Reference counting still frees
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
