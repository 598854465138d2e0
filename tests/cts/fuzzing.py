"""Hypothesis settings and strategies of the CTS property tests.

`make test` runs every property with a bounded number of examples and a fixed seed
(``derandomize=True``, no example database): the same inputs on every run and machine.
The long profile explores many more, with fresh random inputs each time:

    .venv/bin/pytest tests/cts/test_fuzz_contract.py tests/cts/test_fuzz_sensor.py \\
        -p no:randomly --hypothesis-profile=cts-long --hypothesis-show-statistics

(``cts-long``: 50x the examples of each test, randomized; ~1 hour on 2 cores).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from platform_assets.cts.events import REPLAY_FIELD

LONG_PROFILE = "cts-long"
LONG_FACTOR = 50
# service fixtures are function-scoped but stateless between examples (fresh job ids)
_TOLERATED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(LONG_PROFILE, derandomize=False, deadline=None, suppress_health_check=_TOLERATED)


def fuzz(max_examples: int) -> settings:
    """Bounded, derandomized settings; the ``cts-long`` profile multiplies the examples."""
    if settings.get_current_profile_name() == LONG_PROFILE:
        return settings(
            max_examples=max_examples * LONG_FACTOR, derandomize=False, deadline=None, suppress_health_check=_TOLERATED
        )
    return settings(
        max_examples=max_examples, derandomize=True, database=None, deadline=None, suppress_health_check=_TOLERATED
    )


# --- text and JSON as the world sends it ----------------------------------------------
EDGE_CHARACTERS = ["\ud800", "\udfff", "\x00", "\u2028", "\u2029", "\x85", "\ufeff", "\x1e", "\r", "\n", "\t", "'"]
edge_text = st.text(st.sampled_from(EDGE_CHARACTERS), max_size=8)
any_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(exclude_categories=()), max_size=40),  # lone surrogates too
    edge_text,
    st.builds(lambda n, c: c * n, st.integers(0, 100_000), st.sampled_from(["x", "é", "\x00"])),  # huge
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(10**40), 10**40), st.floats(allow_nan=False), any_text
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=12
)


def deep(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return ('{"a":' * depth + "1" + "}" * depth).encode()
    return (opener * depth + closer * depth).encode()


deep_json = st.builds(deep, st.integers(1, 100_000), st.sampled_from(["[", "{"]))
job_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,50}", fullmatch=True), any_text)
states = st.one_of(st.sampled_from(["complete", "created", "error", "complete "]), any_text)
event_objects = st.fixed_dictionaries(
    {"job_id": st.one_of(job_ids, json_values), "state": st.one_of(states, json_values)},
    optional={
        "trans_id": st.one_of(any_text, json_values),
        "time": st.one_of(any_text, json_values),
        REPLAY_FIELD: st.one_of(any_text, json_values),
        "extra": json_values,
    },
)


def encoded(value) -> bytes:
    """JSON text of ``value`` as bytes (surrogates escaped: the JSON itself is valid)."""
    return json.dumps(value).encode("ascii")


messages = st.one_of(
    st.binary(max_size=2_000),
    deep_json,
    json_values.map(encoded),
    event_objects.map(encoded),
    st.builds(lambda n: encoded({"job_id": "big", "state": "complete", "pad": "x" * n}), st.integers(0, 1_200_000)),
)
