"""Propagation benchmark: prints ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_propagation.py [--members 128] [--steps 500] [--rounds 3]

Every comparison runs its variants interleaved, round after round, and reports the median
and the spread (min..max) of the rounds.

1. vectorized ensemble (numpy, in-process) vs a re-implementation of the original
   service's loop: one Python call per agent per step, each reading the universe from a
   range store that scans its whole list (same members, same step count);
2. Dask LocalCluster, 2 worker processes vs 1 (compute time; cluster start-up reported apart),
   plus 2 thread workers, which is how the resource default was chosen; one cluster alive
   at a time, each against the in-process run timed in the same window;
3. resume N -> 2N (load the stored N-step state, propagate N more) vs from-scratch 2N.
"""

import argparse
import logging
import statistics
import sys
import time
from functools import reduce
from operator import or_
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from platform_assets.propagation.ensemble import (
    EnsembleSpec,
    RunState,
    initial_ensemble,
    propagate_ensemble,
)
from platform_assets.propagation.model import default_bodies, propagate
from resources.propagation.dask import DaskResource

DT = 0.01


# ---- the original, re-implemented (fixed time step instead of a random one) -----------
class QRangeStore:
    """The original store: a list of (low, high, value); every read scans all of it."""

    def __init__(self):
        self.store = []

    def __setitem__(self, rng, value):
        low, high = rng
        if not low < high:
            raise IndexError("Invalid Range.")
        self.store.append((low, high, value))

    def __getitem__(self, key):
        ret = [v for (lo, hi, v) in self.store if lo <= key < hi]
        if not ret:
            raise IndexError("Not found.")
        return ret


def original_propagate(agent_id, universe, masses):
    """Per-agent update of the original (semi-implicit Euler), generalized to masses."""
    state = universe[agent_id]
    time_, step = state["time"], state["timeStep"]
    x, y, vx, vy = state["x"], state["y"], state["vx"], state["vy"]
    for other, other_state in universe.items():
        if other == agent_id:
            continue
        dx, dy = other_state["x"] - x, other_state["y"] - y
        r3 = (dx**2 + dy**2) ** 1.5
        vx += masses[other] * dx / r3 * step
        vy += masses[other] * dy / r3 * step
    x += vx * step
    y += vy * step
    return {"time": time_ + step, "timeStep": step, "x": x, "y": y, "vx": vx, "vy": vy}


def original_member(init, masses, steps):
    store = QRangeStore()
    store[-float("inf"), 0] = init
    times = {agent: s["time"] for agent, s in init.items()}
    for _ in range(steps):
        universes: dict = {agent: reduce(or_, store[times[agent] - 0.001], {}) for agent in init}
        for agent, universe in universes.items():
            new = original_propagate(agent, universe, masses)
            store[times[agent], new["time"]] = {agent: new}
            times[agent] = new["time"]
    return store


def original_ensemble(positions, velocities, names, masses, steps):
    mass_of = dict(zip(names, masses.tolist(), strict=True))
    for k in range(positions.shape[0]):
        init = {
            name: {
                "time": 0.0,
                "timeStep": DT,
                "x": positions[k, b, 0],
                "y": positions[k, b, 1],
                "vx": velocities[k, b, 0],
                "vy": velocities[k, b, 1],
            }
            for b, name in enumerate(names)
        }
        original_member(init, mass_of, steps)


# ---- harness -------------------------------------------------------------------------
def interleaved(variants, rounds):
    """Run every variant once per round, round after round (so load changes hit all of
    them alike); returns {name: [seconds per round]} and the last result of each."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    results = {}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def summary(seconds):
    """Median and spread (min-max) over the rounds."""
    return f"median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f})"


def ratio(slow, fast):
    return statistics.median(slow) / statistics.median(fast)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=128, help="ensemble size for the original-loop comparison")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--dask-members", type=int, default=2048)
    parser.add_argument("--resume-members", type=int, default=1024)
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per comparison (median reported)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    bodies = default_bodies()
    rounds = args.rounds
    print(f"(median of {rounds} interleaved rounds; spread = min..max)")

    print(f"\n# 1. vectorized vs original per-agent loop: {args.members} members x {args.steps} steps")
    spec = EnsembleSpec(args.members, 1e-3, 1e-3, 0, args.chunk_size)
    p0, v0 = initial_ensemble(bodies, spec)
    times, _ = interleaved(
        {
            # same work: every member's trajectory, kept (the original keeps its whole store)
            "original loop + list-scanning store": lambda: original_ensemble(
                p0, v0, bodies.names, bodies.masses, args.steps
            ),
            "vectorized trajectories (propagate)": lambda: propagate(p0, v0, bodies.masses, DT, args.steps),
            # more work than the original: nominal run + per-step mean and covariance
            "vectorized ensemble (nominal + mean/cov)": lambda: propagate_ensemble(
                bodies, spec, DT, args.steps, "verlet"
            ),
        },
        rounds,
    )
    for name, seconds in times.items():
        print(f"{name}: {summary(seconds)}")
    original = times["original loop + list-scanning store"]
    print(f"speed-up, same work (trajectories): x{ratio(original, times['vectorized trajectories (propagate)']):.0f}")
    print(
        f"speed-up, full ensemble product:    x{ratio(original, times['vectorized ensemble (nominal + mean/cov)']):.0f}"
    )

    print(f"\n# 2. Dask LocalCluster: {args.dask_members} members x {args.steps} steps, chunks of {args.chunk_size}")
    print("one cluster at a time; each timed interleaved with the in-process run of the same window")
    spec = EnsembleSpec(args.dask_members, 1e-3, 1e-3, 0, args.chunk_size)
    reference = propagate_ensemble(bodies, spec, DT, args.steps, "verlet")
    vs_local = {}
    for label, processes, workers in (
        ("1 worker process", True, 1),
        ("2 worker processes", True, 2),
        ("2 worker threads", False, 2),
    ):
        resource = DaskResource(n_workers=workers, processes=processes, threads_per_worker=1)
        try:
            start = time.perf_counter()
            client = resource.get_client()
            startup = time.perf_counter() - start
            propagate_ensemble(bodies, spec, DT, 5, "verlet", client)  # warm the workers
            times, results = interleaved(
                {
                    "in-process": lambda: propagate_ensemble(bodies, spec, DT, args.steps, "verlet"),
                    label: lambda client=client: propagate_ensemble(bodies, spec, DT, args.steps, "verlet", client),
                },
                rounds,
            )
        finally:
            resource.close()
        assert np.array_equal(results[label].mean, reference.mean), "Dask result differs from in-process"
        vs_local[label] = ratio(times["in-process"], times[label])
        print(
            f"{label}: start-up {startup:.2f} s, compute {summary(times[label])}; "
            f"in-process {summary(times['in-process'])}; speed-up vs in-process x{vs_local[label]:.2f}"
        )
    print(
        f"2 vs 1 worker processes: x{vs_local['2 worker processes'] / vs_local['1 worker process']:.2f} "
        "(ratio of the two speed-ups vs in-process)"
    )
    print(f"2 processes vs 2 threads: x{vs_local['2 worker processes'] / vs_local['2 worker threads']:.2f}")

    n = args.steps
    print(f"\n# 3. resume {n} -> {2 * n} vs from-scratch {2 * n} ({args.resume_members} members)")
    spec = EnsembleSpec(args.resume_members, 1e-3, 1e-3, 0, args.chunk_size)
    stored = propagate_ensemble(bodies, spec, DT, n, "verlet").to_npz()
    times, results = interleaved(
        {
            "resume": lambda: propagate_ensemble(bodies, spec, DT, n, "verlet", start=RunState.from_npz(stored)),
            "from scratch": lambda: propagate_ensemble(bodies, spec, DT, 2 * n, "verlet"),
        },
        rounds,
    )
    resumed, scratch = results["resume"], results["from scratch"]
    assert np.array_equal(resumed.mean, scratch.mean) and np.array_equal(resumed.covariance, scratch.covariance)
    print(
        f"resume: {summary(times['resume'])} | from scratch: {summary(times['from scratch'])} | "
        f"speed-up x{ratio(times['from scratch'], times['resume']):.2f} (identical arrays)"
    )


if __name__ == "__main__":
    main()
