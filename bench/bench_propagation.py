"""Propagation benchmark: ratios against baselines measured in the same run, and the
distance to the limit.

    .venv/bin/python bench/bench_propagation.py [--rounds 3] [--quick]

Every comparison runs its variants interleaved, round after round, and reports the median
and the spread (min..max). Times are wall clock of the path the asset runs
(`propagate_ensemble`: nominal trajectory + per-step ensemble mean/covariance).

1. ns per member-step, one core: the compiled kernel (the default) against the numpy
   reference kernel (today's path; the baseline) and against the limit: the compiled
   integrator alone (`compiled.advance`: no moments, no output, no Python between steps);
2. against a re-implementation of the original service's loop (one Python call per agent
   per step, each reading the universe from a range store that scans its whole list), at
   the original's 500 steps;
3. Dask LocalCluster with thread workers (the kernel releases the GIL): 2 vs 1 workers at a
   size where Dask pays, per-task overhead (1 worker vs in-process), and the crossover: the
   smallest work at which a run that starts its own cluster beats in-process;
4. resume N -> 2N (load the stored N-step state, propagate N more) vs from-scratch 2N.
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

from platform_assets.propagation import compiled
from platform_assets.propagation.ensemble import (
    DASK_MIN_SECONDS,
    DEFAULT_CHUNK_SIZE,
    EnsembleSpec,
    RunState,
    estimated_seconds,
    initial_ensemble,
    propagate_ensemble,
)
from platform_assets.propagation.model import G, default_bodies, propagate
from resources.propagation.dask import DaskResource

DT = 0.01
GOAL_VS_TODAY = 10.0
GOAL_DASK_2_VS_1 = 1.8
GOAL_VS_ORIGINAL = 100.0
GOAL_TASK_OVERHEAD = 0.05


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
    """Run every variant once untimed (compilation, caches), then once per round, round after
    round (so load changes hit all of them alike); returns {name: [seconds per round]} and
    the last result of each."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    results = {name: fn() for name, fn in variants.items()}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def summary(seconds, per=1.0, unit="s", fmt=".3f"):
    """Median and spread (min..max) over the rounds, optionally per unit of work."""
    values = [x / per for x in seconds]
    return f"{format(statistics.median(values), fmt)} {unit} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def ratio(slow, fast):
    return statistics.median(slow) / statistics.median(fast)


def verdict(value, goal):
    return "met" if value >= goal else "NOT met"


def ensemble(members, chunk_size=DEFAULT_CHUNK_SIZE):
    return EnsembleSpec(members, 1e-3, 1e-3, 0, chunk_size)


def advance_all(spec, steps):
    """The limit: the compiled integrator alone, every member, no moments, no output."""
    bodies = default_bodies()
    p, v = initial_ensemble(bodies, spec)
    compiled.kernels().advance(p, v, bodies.masses, G, DT, steps, False)


# ---- the comparisons -----------------------------------------------------------------
def kernel_vs_today_and_limit(members, steps, chunk_size, rounds):
    print(f"\n# 1. ns per member-step, one core: {members} members x {steps} steps, chunks of {chunk_size}")
    bodies, spec = default_bodies(), ensemble(members, chunk_size)
    work = members * steps
    times, results = interleaved(
        {
            "numpy reference kernel (today)": lambda: propagate_ensemble(
                bodies, spec, DT, steps, "verlet", kernel="numpy"
            ),
            "compiled kernel (ours)": lambda: propagate_ensemble(bodies, spec, DT, steps, "verlet", kernel="numba"),
            "limit: compiled integrator alone": lambda: advance_all(spec, steps),
        },
        rounds,
    )
    today, ours, limit = times.values()
    for name, seconds in times.items():
        print(f"{name:<34} {summary(seconds, work / 1e9, 'ns/member-step', '.1f')}")
    same = np.array_equal(
        results["numpy reference kernel (today)"].final_positions, results["compiled kernel (ours)"].final_positions
    )
    print(f"final member states identical to the reference: {same}")
    speedup = ratio(today, ours)
    print(
        f"baseline: x{speedup:.1f} faster than today's numpy path "
        f"(goal >= {GOAL_VS_TODAY:.0f}x: {verdict(speedup, GOAL_VS_TODAY)})"
    )
    print(
        f"limit:    x{ratio(ours, limit):.2f} the compiled integrator alone "
        "(the rest: per-step mean + 12x12 covariance, nominal trajectory, merges)"
    )


def original_loop(members, steps, rounds):
    print(f"\n# 2. vs the original per-agent loop: {members} members x {steps} steps")
    bodies, spec = default_bodies(), ensemble(members, members)
    p0, v0 = initial_ensemble(bodies, spec)
    times, _ = interleaved(
        {
            # same work: every member's trajectory, kept (the original keeps its whole store)
            "original loop + list-scanning store": lambda: original_ensemble(
                p0, v0, bodies.names, bodies.masses, steps
            ),
            "compiled trajectories (propagate)": lambda: propagate(p0, v0, bodies.masses, DT, steps, kernel="numba"),
            # more work than the original: nominal run + per-step mean and covariance
            "compiled ensemble (nominal + mean/cov)": lambda: propagate_ensemble(bodies, spec, DT, steps, "verlet"),
            "limit: compiled integrator alone": lambda: advance_all(spec, steps),
        },
        rounds,
    )
    for name, seconds in times.items():
        print(f"{name:<40} {summary(seconds, fmt='.4f')}")
    original = times["original loop + list-scanning store"]
    same_work = ratio(original, times["compiled trajectories (propagate)"])
    product = ratio(original, times["compiled ensemble (nominal + mean/cov)"])
    print(
        f"baseline: x{same_work:.0f} same work (trajectories), x{product:.0f} full ensemble product "
        f"(goal >= {GOAL_VS_ORIGINAL:.0f}x: {verdict(product, GOAL_VS_ORIGINAL)})"
    )
    to_limit = ratio(times["compiled ensemble (nominal + mean/cov)"], times["limit: compiled integrator alone"])
    print(f"limit:    full product x{to_limit:.1f} the integrator alone")
    print("(the original's store is O(steps^2): its ratio grows with the run length)")


def dask_scaling(members, steps, chunk_size, rounds):
    seconds = estimated_seconds(members, steps, 2, "verlet", "numba")
    print(
        f"\n# 3a. Dask thread workers: {members} members x {steps} steps, chunks of {chunk_size} "
        f"(estimated {seconds:.1f} s on one core)"
    )
    bodies, spec = default_bodies(), ensemble(members, chunk_size)
    reference = propagate_ensemble(bodies, spec, DT, steps, "verlet")
    speedups = {}
    for workers in (1, 2):
        resource = DaskResource(n_workers=workers, processes=False, threads_per_worker=1)
        try:
            start = time.perf_counter()
            client = resource.get_client()
            startup = time.perf_counter() - start
            times, results = interleaved(
                {
                    "in-process": lambda: propagate_ensemble(bodies, spec, DT, steps, "verlet"),
                    "dask": lambda client=client: propagate_ensemble(bodies, spec, DT, steps, "verlet", client),
                },
                rounds,
            )
        finally:
            resource.close()
        assert np.array_equal(results["dask"].covariance, reference.covariance), "Dask result differs from in-process"
        speedups[workers] = ratio(times["in-process"], times["dask"])
        print(
            f"{workers} worker(s): cluster start {startup:.2f} s; dask {summary(times['dask'])}, "
            f"in-process {summary(times['in-process'])}: x{speedups[workers]:.2f} vs in-process (identical arrays)"
        )
        if workers == 1:
            overhead = 1 / speedups[1] - 1
            print(
                f"per-task overhead (1 worker vs in-process): {100 * overhead:+.1f}% "
                f"(goal < {100 * GOAL_TASK_OVERHEAD:.0f}%: {'met' if overhead < GOAL_TASK_OVERHEAD else 'NOT met'})"
            )
    two_vs_one = speedups[2] / speedups[1]
    print(
        f"2 vs 1 workers: x{two_vs_one:.2f} (goal >= {GOAL_DASK_2_VS_1}: {verdict(two_vs_one, GOAL_DASK_2_VS_1)}; "
        "limit x2.00 on 2 cores)"
    )


def dask_crossover(steps, chunk_size, rounds):
    print(f"\n# 3b. crossover: in-process vs a run that starts its own 2-thread LocalCluster ({steps} steps)")
    print(f"(the asset uses Dask from dask_min_seconds = {DASK_MIN_SECONDS:g} s of estimated compute)")
    bodies = default_bodies()
    for members in (256, 1024, 4096, 16384):
        spec = ensemble(members, chunk_size)
        seconds = estimated_seconds(members, steps, 2, "verlet", "numba")

        def with_cluster(spec=spec):
            resource = DaskResource(n_workers=2, processes=False, threads_per_worker=1)
            try:
                return propagate_ensemble(bodies, spec, DT, steps, "verlet", resource.get_client())
            finally:
                resource.close()

        times, _ = interleaved(
            {
                "in-process": lambda spec=spec: propagate_ensemble(bodies, spec, DT, steps, "verlet"),
                "dask": with_cluster,
            },
            rounds,
        )
        faster = "Dask" if ratio(times["in-process"], times["dask"]) > 1 else "in-process"
        print(
            f"{members:>6} members (estimated {seconds:6.2f} s): in-process {summary(times['in-process'])}, "
            f"Dask incl. start {summary(times['dask'])} -> {faster} faster"
        )


def resume(members, steps, chunk_size, rounds):
    n = steps
    print(f"\n# 4. resume {n} -> {2 * n} vs from-scratch {2 * n} ({members} members)")
    bodies, spec = default_bodies(), ensemble(members, chunk_size)
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
        f"x{ratio(times['from scratch'], times['resume']):.2f} (identical arrays; limit x2: half the steps)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per comparison (median reported)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    scale = 4 if args.quick else 1
    print(f"(median of {args.rounds} interleaved rounds; spread = min..max)")
    start = time.perf_counter()
    bodies = default_bodies()
    for method in ("verlet", "rk4"):
        propagate_ensemble(bodies, ensemble(8, 8), DT, 2, method)
    print(
        f"compiled kernel ready in {time.perf_counter() - start:.2f} s "
        "(numba import + compile or cache load, once per process)"
    )
    kernel_vs_today_and_limit(1024 // scale, 500, DEFAULT_CHUNK_SIZE, args.rounds)
    original_loop(128 // scale, 500, args.rounds)
    dask_scaling(16384 // scale, 2000, DEFAULT_CHUNK_SIZE, args.rounds)
    dask_crossover(500, DEFAULT_CHUNK_SIZE, args.rounds)
    resume(1024 // scale, 500, DEFAULT_CHUNK_SIZE, args.rounds)


if __name__ == "__main__":
    main()
