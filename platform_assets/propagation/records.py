"""Output formats: time-range records (parquet), the web view's data.json, ensemble moments.

The original service kept a "Q-range store": a list of ``(t_low, t_high, {agent: state})``
records, where the record ``[t_low, t_high)`` holds the state reached at ``t_high`` and the
first record ``[-inf, 0)`` holds the initial state. Reads scanned the whole list. Here the
same records are a parquet table, sorted by time, and ``read_at`` finds a time by binary
search. ``data.json`` is the list the original web page (Plotly) iterated as
``for (let [t0, t1, frame] of data)``; strict JSON has no ``-Infinity``, so the first
record's ``t_low`` is ``null`` there. Its frames come in the layout of the original's latest
web view, ``{agentId: {position: {x, y, z}, velocity: {x, y, z}, mass, time, timeStep}}``
(``web``), or of its first one, ``{agentId: {time, timeStep, x, y, z, vx, vy, vz}}`` (``flat``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from platform_assets.propagation.model import AXES
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")

if TYPE_CHECKING:
    import pyarrow as pa


STATE_FIELDS = (*AXES, *(f"v{axis}" for axis in AXES))
DATA_JSON_LAYOUTS = ("web", "flat")


def _state_type(names: Sequence[str]) -> pa.StructType:
    import pyarrow as pa

    body = pa.struct([(field, pa.float64()) for field in ("time", "timeStep", *STATE_FIELDS)])
    return pa.struct([(name, body) for name in names])


def trajectory_records(names: Sequence[str], dt: float, positions: np.ndarray, velocities: np.ndarray) -> pa.Table:
    """Nominal trajectory (S, n, 3) -> records ``step, t_low, t_high, state`` (one per step)."""
    import pyarrow as pa

    steps = np.arange(positions.shape[0])
    t_high = steps * dt
    t_low = np.concatenate([[-np.inf], t_high[:-1]])
    bodies = []
    for b in range(len(names)):
        columns = [pa.array(t_high), pa.array(np.full(len(steps), dt))]
        columns += [pa.array(positions[:, b, c]) for c in range(3)]
        columns += [pa.array(velocities[:, b, c]) for c in range(3)]
        bodies.append(pa.StructArray.from_arrays(columns, ["time", "timeStep", *STATE_FIELDS]))
    state = pa.StructArray.from_arrays(bodies, list(names))
    return pa.table(
        {"step": pa.array(steps), "t_low": pa.array(t_low), "t_high": pa.array(t_high), "state": state},
        schema=pa.schema(
            [("step", pa.int64()), ("t_low", pa.float64()), ("t_high", pa.float64()), ("state", _state_type(names))]
        ),
    )


def moments_table(names: Sequence[str], dt: float, mean: np.ndarray, covariance: np.ndarray) -> pa.Table:
    """Ensemble mean (S, D) as one column per body/field, covariance as a flat D*D list."""
    import pyarrow as pa

    columns: dict[str, pa.Array] = {
        "step": pa.array(np.arange(mean.shape[0])),
        "t": pa.array(np.arange(mean.shape[0]) * dt),
    }
    for b, name in enumerate(names):
        for f, field in enumerate(STATE_FIELDS):
            columns[f"mean_{name}_{field}"] = pa.array(mean[:, b * 6 + f])
    flat = covariance.reshape(covariance.shape[0], -1)
    columns["covariance"] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    return pa.table(columns)


def to_parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def read_parquet_bytes(data: bytes) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data))


def data_json(
    names: Sequence[str],
    masses: np.ndarray,
    dt: float,
    positions: np.ndarray,
    velocities: np.ndarray,
    layout: str = "web",
) -> str:
    """The original web view's data, ``[[t_low | null, t_high, frame], ...]``, one record per
    row of the nominal trajectory (S, n, 3); ``layout`` picks the frame layout (module doc)."""
    if layout not in DATA_JSON_LAYOUTS:
        raise ValueError(f"unknown data.json layout {layout!r}; choose one of {DATA_JSON_LAYOUTS}")
    p, v, mass = positions.tolist(), velocities.tolist(), [float(m) for m in masses]
    rows: list[list] = []
    for step in range(len(p)):
        frame = {}
        for b, name in enumerate(names):
            (x, y, z), (vx, vy, vz) = p[step][b], v[step][b]
            time = step * dt
            if layout == "web":
                frame[name] = {
                    "position": {"x": x, "y": y, "z": z},
                    "velocity": {"x": vx, "y": vy, "z": vz},
                    "mass": mass[b],
                    "time": time,
                    "timeStep": dt,
                }
            else:
                frame[name] = {"time": time, "timeStep": dt, "x": x, "y": y, "z": z, "vx": vx, "vy": vy, "vz": vz}
        rows.append([None if step == 0 else (step - 1) * dt, step * dt, frame])
    return json.dumps(rows, allow_nan=False)


def read_at(records: pa.Table, t: float) -> dict:
    """The state valid at time ``t``: the record with ``t_low <= t < t_high`` (binary search).

    Raises IndexError like the original store when no record covers ``t``.
    """
    t_low = records["t_low"].to_numpy()
    t_high = records["t_high"].to_numpy()
    i = int(np.searchsorted(t_low, t, side="right")) - 1
    if i < 0 or not t < t_high[i]:
        raise IndexError(f"no record covers t={t}")
    return records["state"][i].as_py()
