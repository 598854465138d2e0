"""Propagation benchmark: prints ratios against baselines measured in the same run.

    .venv/bin/python bench/bench_propagation.py [--members 128] [--steps 500]

1. vectorized ensemble (numpy, in-process) vs a re-implementation of the original
   service's loop: one Python call per agent per step, each reading the universe from a
   range store that scans its whole list (same members, same step count);
2. Dask LocalCluster, 2 worker processes vs 1 (compute time; cluster start-up reported apart),
   plus 2 thread workers, which is how the resource default was chosen;
3. resume N -> 2N (load the stored N-step state, propagate N more) vs from-scratch 2N.
"""

import argparse
import logging
import sys
import time
from functools import reduce
from operator import or_
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from platform_assets.propagation.ensemble import (  # noqa: E402
    EnsembleSpec,
    RunState,
    initial_ensemble,
    propagate_ensemble,
)
from platform_assets.propagation.model import default_bodies  # noqa: E402
from resources.dask import DaskResource  # noqa: E402

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
        universes = {agent: reduce(or_, store[times[agent] - 0.001], {}) for agent in init}
        for agent, universe in universes.items():
            new = original_propagate(agent, universe, masses)
            store[times[agent], new["time"]] = {agent: new}
            times[agent] = new["time"]
    return store


def original_ensemble(positions, velocities, names, masses, steps):
    mass_of = dict(zip(names, masses.tolist()))
    for k in range(positions.shape[0]):
        init = {
            name: {"time": 0.0, "timeStep": DT, "x": positions[k, b, 0], "y": positions[k, b, 1],
                   "vx": velocities[k, b, 0], "vy": velocities[k, b, 1]}
            for b, name in enumerate(names)
        }
        original_member(init, mass_of, steps)


# ---- harness -------------------------------------------------------------------------
def timed(fn, repeat=1):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=128, help="ensemble size for the original-loop comparison")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--dask-members", type=int, default=2048)
    parser.add_argument("--resume-members", type=int, default=1024)
    parser.add_argument("--chunk-size", type=int, default=128)
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    bodies = default_bodies()

    print(f"# 1. vectorized vs original per-agent loop: {args.members} members x {args.steps} steps")
    spec = EnsembleSpec(args.members, 1e-3, 1e-3, 0, args.chunk_size)
    p0, v0 = initial_ensemble(bodies, spec)
    t_orig, _ = timed(lambda: original_ensemble(p0, v0, bodies.names, bodies.masses, args.steps))
    t_vec, _ = timed(lambda: propagate_ensemble(bodies, spec, DT, args.steps, "verlet"), repeat=3)
    print(f"original loop {t_orig:.2f} s | vectorized (verlet, mean+cov) {t_vec:.3f} s | speed-up x{t_orig / t_vec:.0f}")

    print(f"\n# 2. Dask LocalCluster: {args.dask_members} members x {args.steps} steps, chunks of {args.chunk_size}")
    spec = EnsembleSpec(args.dask_members, 1e-3, 1e-3, 0, args.chunk_size)
    reference = propagate_ensemble(bodies, spec, DT, args.steps, "verlet")
    setups = {("processes", 1): (True, 1), ("processes", 2): (True, 2), ("threads", 2): (False, 2)}
    clients, resources = {}, []
    for name, (processes, workers) in setups.items():
        resource = DaskResource(n_workers=workers, processes=processes, threads_per_worker=1)
        resources.append(resource)
        startup, clients[name] = timed(resource.get_client)
        propagate_ensemble(bodies, spec, DT, 5, "verlet", clients[name])  # warm the workers
        print(f"{name[1]} worker {name[0]}: start-up {startup:.2f} s")
    clients[("in-process", 0)] = None
    timings = dict.fromkeys(clients, float("inf"))
    for _ in range(3):  # interleaved rounds, best of three: fairer on a shared machine
        for name, client in clients.items():
            compute, result = timed(lambda: propagate_ensemble(bodies, spec, DT, args.steps, "verlet", client))
            assert np.array_equal(result.mean, reference.mean), "Dask result differs from in-process"
            timings[name] = min(timings[name], compute)
    for resource in resources:
        resource.close()
    for name, compute in timings.items():
        print(f"{name[1]} worker {name[0]}: compute {compute:.2f} s" if name[1] else f"in-process: {compute:.2f} s")
    t_local = timings[("in-process", 0)]
    print(f"2 vs 1 worker processes: speed-up x{timings[('processes', 1)] / timings[('processes', 2)]:.2f}")
    print(f"2 processes vs 2 threads: speed-up x{timings[('threads', 2)] / timings[('processes', 2)]:.2f}")
    print(f"2 processes vs in-process: speed-up x{t_local / timings[('processes', 2)]:.2f}")

    n = args.steps
    print(f"\n# 3. resume {n} -> {2 * n} vs from-scratch {2 * n} ({args.resume_members} members)")
    spec = EnsembleSpec(args.resume_members, 1e-3, 1e-3, 0, args.chunk_size)
    stored = propagate_ensemble(bodies, spec, DT, n, "verlet").to_npz()
    t_resume = t_scratch = float("inf")
    for _ in range(3):  # interleaved rounds, best of three
        elapsed, resumed = timed(
            lambda: propagate_ensemble(bodies, spec, DT, n, "verlet", start=RunState.from_npz(stored))
        )
        t_resume = min(t_resume, elapsed)
        elapsed, scratch = timed(lambda: propagate_ensemble(bodies, spec, DT, 2 * n, "verlet"))
        t_scratch = min(t_scratch, elapsed)
    assert np.array_equal(resumed.mean, scratch.mean) and np.array_equal(resumed.covariance, scratch.covariance)
    print(f"resume {t_resume:.3f} s | from scratch {t_scratch:.3f} s | speed-up x{t_scratch / t_resume:.2f} (identical arrays)")


if __name__ == "__main__":
    main()
