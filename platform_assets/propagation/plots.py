"""Orbit + energy-drift figure, as markdown metadata the Dagster UI renders inline.

matplotlib is imported inside the function (Agg backend, no display) so that loading
the code location stays fast.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")


def orbit_png(
    names: Sequence[str],
    times: np.ndarray,
    positions: np.ndarray,
    mean: np.ndarray,
    relative_energy_error: np.ndarray,
) -> bytes:
    """Left: nominal x-y paths and ensemble-mean paths; right: |E(t) - E(0)| / |E(0)|."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5), dpi=80)
    orbit, drift = figure.subplots(1, 2)
    for b, name in enumerate(names):
        (line,) = orbit.plot(positions[:, b, 0], positions[:, b, 1], label=f"{name} (nominal)")
        orbit.plot(mean[:, b * 6], mean[:, b * 6 + 1], "--", color=line.get_color(), label=f"{name} (mean)")
    orbit.set_aspect("equal", adjustable="datalim")
    orbit.set(title="orbit", xlabel="x", ylabel="y")
    orbit.legend(fontsize="small")
    drift.plot(times, relative_energy_error)
    drift.set(title="relative energy drift", xlabel="t", ylabel="|E-E0|/|E0|")
    drift.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_markdown(png: bytes, title: str = "orbit") -> dg.MetadataValue:
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
