"""How many CTS requests to keep in flight: measured per call, not guessed.

Where the CTS is far (tens of milliseconds per answer), throughput grows with the
requests in flight. Where it is near (in the same cluster, or the local emulator), the
limit is the client's own CPU: each request costs about 0.3 ms of Python (httpcore and
h11) under one GIL, and more threads only add hand-offs. On this repository's 2-core
machines, 2,500 GETs against the emulator took 1.05-1.14 s with one request in flight and
1.40-1.48 s with eight (docs/cts.md). No fixed number is right for both.

So a call starts with one request in flight and doubles the number while doubling pays:
each setting is measured over a window (at least ``WINDOW_SECONDS`` and
``WINDOW_REQUESTS_PER_SLOT`` completions per request in flight; after a change, as many
completions as there are requests in flight are not counted, since new requests may
open connections). A doubling that does not raise the throughput by ``GAIN`` is undone
and the setting is kept for the rest of the call; so is the maximum once it pays.
Latency-based limiters (AIMD, Vegas) watch the server's queue; here the limit is usually
our own process, which only throughput shows.

With one request in flight, one slow answer (a hung request, retries with backoff) would
hold back the whole call: past ``STALL_SECONDS`` without a completion, one more request
goes in flight.

:func:`call_each` runs a call per item on worker threads sized that way.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

WINDOW_SECONDS = 0.1
WINDOW_REQUESTS_PER_SLOT = 4
GAIN = 0.2  # a doubling must bring 20% more throughput (noise on a shared machine is ~10%)
STALL_SECONDS = 1.0  # without a completion: one more request in flight
STALL_CHECK_SECONDS = 0.25  # how often a call looks for a stall

Item = TypeVar("Item")


@dataclasses.dataclass
class AdaptiveConcurrency:
    """The number of requests to keep in flight, from 1 up to ``maximum``: feed it every
    completion (:meth:`completed`), look at it now and then while requests are waiting
    (:meth:`stalled`), and keep ``limit`` requests in flight. ``started``: when the call
    began (``time.monotonic()``)."""

    maximum: int
    started: float = 0.0
    limit: int = 1
    settled: bool = False
    _kept: tuple[int, float] | None = None  # (limit, throughput) before the last doubling
    _warming: int = 1  # completions not counted before the window starts (connections open)
    _window_start: float = 0.0
    _window_done: int = 0
    _last_progress: float = 0.0  # last completion, or the call's start, or the last stall

    def __post_init__(self) -> None:
        self.maximum = max(1, self.maximum)
        self.settled = self.maximum == 1
        self._last_progress = self.started

    def stalled(self, now: float) -> int:
        """While requests wait to be sent: past ``STALL_SECONDS`` without a completion, one
        more request in flight (up to the maximum, settled or not; the window restarts).
        Returns the number of requests to keep in flight."""
        if now - self._last_progress >= STALL_SECONDS and self.limit < self.maximum:
            self.limit += 1
            self._last_progress = now
            self._warming = self.limit
        return self.limit

    def completed(self, now: float) -> int:
        """Record one finished request at ``now`` (``time.monotonic()``); returns the
        number of requests to keep in flight from now on."""
        self._last_progress = now
        if self.settled:
            return self.limit
        if self._warming:
            self._warming -= 1
            self._window_start, self._window_done = now, 0
            return self.limit
        self._window_done += 1
        elapsed = now - self._window_start
        if self._window_done < WINDOW_REQUESTS_PER_SLOT * self.limit or elapsed < WINDOW_SECONDS:
            return self.limit
        self._decide(self._window_done / elapsed)
        return self.limit

    def _decide(self, throughput: float) -> None:
        if self._kept is not None and throughput < self._kept[1] * (1 + GAIN):
            self.limit, self.settled = self._kept[0], True  # the doubling did not pay
        elif self.limit >= self.maximum:
            self.settled = True
        else:
            self._kept = (self.limit, throughput)
            self.limit = min(self.maximum, 2 * self.limit)
            self._warming = self.limit


def call_each(items: Sequence[Item], call: Callable[[Item], Any], maximum: int) -> dict[Item, Any]:
    """``call`` for every item (distinct, hashable) on worker threads that take items from
    one shared queue (no future per item: a tick fetches thousands), at most ``maximum``
    at once and as many as :class:`AdaptiveConcurrency` measures to pay: per item, in
    order, the result or the ``Exception`` it raised. Anything else raised (``SystemExit``,
    no thread left) ends the whole call with it, once every worker has stopped."""
    if not items:
        return {}
    results: dict[Item, Any] = {}
    pending = iter(range(len(items)))  # by position: any item, None too, is a valid item
    waiting = len(items)  # items not taken by a worker yet
    lock = threading.Lock()
    in_flight = AdaptiveConcurrency(min(maximum, len(items)), started=time.monotonic())
    slots: set[int] = set()  # workers running, by slot (a slot >= the limit ends)
    workers: list[threading.Thread] = []
    stopped: list[BaseException] = []

    def start_workers() -> None:  # with the lock held (a new worker waits for it)
        for slot in sorted(set(range(in_flight.limit)) - slots):
            worker = threading.Thread(target=work, args=(slot,), daemon=True)
            worker.start()
            slots.add(slot)
            workers.append(worker)

    def work(slot: int) -> None:
        nonlocal waiting
        taken = False
        try:
            while True:
                with lock:
                    if taken and in_flight.completed(time.monotonic()) > len(slots):
                        start_workers()
                    index = next(pending, None) if slot < in_flight.limit else None
                    if index is None:
                        slots.discard(slot)
                        return
                    waiting -= 1
                    taken = True
                item = items[index]
                try:
                    results[item] = call(item)
                except Exception as e:  # per item: the caller decides what each error means
                    results[item] = e
        except BaseException as e:  # about no single item
            with lock:
                slots.discard(slot)
                stopped.append(e)

    with lock:
        start_workers()
    joined = 0
    while True:  # workers may start workers: join until none is left
        with lock:
            if joined == len(workers):
                break
            worker = workers[joined]
        worker.join(STALL_CHECK_SECONDS)
        if not worker.is_alive():
            joined += 1
            continue
        with lock:  # a slow answer must not hold back the items behind it
            if waiting and in_flight.stalled(time.monotonic()) > len(slots):
                start_workers()
    if stopped:
        raise stopped[0]
    return {item: results[item] for item in items}
