"""How hard the NLP property tests search.

`make test` runs a bounded, derandomized search (the same examples every time). For a longer,
randomized search set NLP_HYPOTHESIS_EXAMPLES, e.g.
`NLP_HYPOTHESIS_EXAMPLES=2000 .venv/bin/pytest tests/nlp/test_similarity.py tests/nlp/test_guard.py`.
"""

from __future__ import annotations

import os

from hypothesis import settings

LONG_SEARCH = int(os.environ.get("NLP_HYPOTHESIS_EXAMPLES", "0"))


def bounded(examples: int) -> settings:
    if LONG_SEARCH:
        return settings(max_examples=LONG_SEARCH, deadline=None)
    return settings(max_examples=examples, derandomize=True, deadline=None)
