"""How many CTS requests the client keeps in flight (AdaptiveConcurrency), against
simulated services whose throughput per setting is given, so the best setting is known.

Invariants, for any maximum and any service of the shapes below:
- the limit stays within [1, maximum] and only doubles (capped) or goes back once;
- once settled it never changes;
- where throughput grows with the requests in flight up to a knee and is flat after it
  (a far CTS, then its own capacity or our CPU), the settled limit gets within the
  required gain of the best throughput;
- where every extra request in flight costs throughput (a near CTS: our CPU and the
  GIL), it settles at one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from resources.cts.concurrency import (
    GAIN,
    STALL_SECONDS,
    WINDOW_REQUESTS_PER_SLOT,
    WINDOW_SECONDS,
    AdaptiveConcurrency,
)


def run(
    maximum: int, throughput: Callable[[int], float], completions: int = 1_000, noise: Callable[[], float] = lambda: 1.0
) -> list[int]:
    """Feed completions, spaced as ``throughput(limit)`` says (times ``noise()``), until
    ``completions`` after the limit settled; the limit after each.

    Checked on the way: a settled limit never changes, and every decision rests on a whole
    window: at least ``WINDOW_SECONDS`` and, after the warm-up of one completion per
    request in flight, ``WINDOW_REQUESTS_PER_SLOT`` completions per request in flight."""
    control, now, settled = AdaptiveConcurrency(maximum), 0.0, None
    limits: list[int] = []
    since_change, changed_at = 0, 0.0
    while len(limits) < 100_000 and (settled is None or completions):
        completions -= settled is not None
        limit = control.limit
        now += noise() / throughput(limit)
        limits.append(control.completed(now))
        since_change += 1
        if limits[-1] != limit or (control.settled and settled is None and maximum > 1):  # a decision
            warm_up = 1 if len(limits) == since_change else limit
            assert since_change >= warm_up + WINDOW_REQUESTS_PER_SLOT * limit
            assert now - changed_at >= WINDOW_SECONDS
            since_change, changed_at = 0, now
        assert settled is None or limits[-1] == settled
        if control.settled:
            settled = control.limit
    assert settled is not None, "a setting must be found within the call"
    return limits


maxima = st.integers(min_value=1, max_value=64)


@given(
    maximum=maxima,
    latency=st.floats(min_value=2e-4, max_value=0.2),  # seconds per answer
    capacity=st.floats(min_value=100, max_value=5_000),  # answers per second at most
)
def test_a_knee_settles_within_the_gain_of_the_best(maximum: int, latency: float, capacity: float) -> None:
    def throughput(n: int) -> float:
        return min(n / latency, capacity)

    limits = run(maximum, throughput)
    assert all(1 <= limit <= maximum for limit in limits)
    changes = [b for a, b in zip(limits, limits[1:], strict=False) if a != b]
    assert all(b == min(maximum, 2 * a) for a, b in zip([1, *changes], changes, strict=False) if b > a)
    assert sum(1 for a, b in zip([1, *changes], changes, strict=False) if b < a) <= 1  # back once at most
    settled = limits[-1]
    best = max(throughput(n) for n in range(1, maximum + 1))
    assert throughput(settled) * (1 + GAIN) >= best


@given(maximum=maxima, cost=st.floats(min_value=0.01, max_value=1.0))
def test_where_each_extra_request_costs_throughput_it_settles_at_one(maximum: int, cost: float) -> None:
    limits = run(maximum, lambda n: 2_000 / (1 + cost * (n - 1)))
    assert limits[-1] == 1
    assert max(limits) <= 2  # one doubling tried, and undone


def test_linear_growth_reaches_the_maximum_and_stays() -> None:
    limits = run(8, lambda n: n / 0.02)
    assert limits[-1] == 8
    assert sorted(set(limits)) == [1, 2, 4, 8]


@given(maximum=st.integers(min_value=2, max_value=64), seed=st.integers(0, 2**32 - 1))
def test_noise_alone_never_buys_a_doubling(maximum: int, seed: int) -> None:
    """A service whose throughput does not depend on the requests in flight, timed with
    +-10% noise per answer (a shared machine): the first doubling is undone."""
    rng = random.Random(seed)
    limits = run(maximum, lambda n: 2_000.0, noise=lambda: rng.uniform(0.9, 1.1))
    assert limits[-1] == 1


@given(maximum=st.sampled_from([2, 4, 8, 16, 32, 64]))
def test_a_doubling_worth_its_gain_is_kept(maximum: int) -> None:
    """Each doubling brings 30% (over the 20% asked): the limit climbs to the maximum."""
    limits = run(maximum, lambda n: 1_000 * n**0.38)
    assert limits[-1] == maximum


def test_a_call_without_completions_adds_one_request_per_stall_up_to_the_maximum() -> None:
    control = AdaptiveConcurrency(3, started=100.0)
    assert control.stalled(100.0 + STALL_SECONDS / 2) == 1  # not yet
    assert control.stalled(100.0 + STALL_SECONDS) == 2
    assert control.stalled(100.0 + STALL_SECONDS * 1.5) == 2  # a second stall needs its own wait
    assert control.stalled(100.0 + STALL_SECONDS * 2) == 3
    assert control.stalled(100.0 + STALL_SECONDS * 10) == 3  # never past the maximum
    control = AdaptiveConcurrency(3, started=100.0)
    control.completed(100.0 + STALL_SECONDS * 0.9)  # progress resets the wait
    assert control.stalled(100.0 + STALL_SECONDS * 1.5) == 1
