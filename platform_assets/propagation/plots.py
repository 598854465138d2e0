"""Pictures of a run: an inline orbit sketch for the Dagster UI and the full figure as a PNG.

What Dagster 1.13 shows inline: there is no image metadata type; a Markdown value renders in
place (asset page, latest materialization) only while it is shorter than 1000 characters,
longer ones hide behind "[Show Markdown]" (ui-core MetadataEntry.tsx). A PNG data URI of a
plot is several kB, so the inline picture is a small SVG sketch of the nominal tracks
(simplified polylines, percent-encoded, well under the limit) with its legend in the
Markdown text beside it, where it cannot cover a track. The full figure (nominal and
ensemble-mean tracks, energy drift) is published next to the data as ``plot.png``, with its
legend below the axes, outside every track.

matplotlib is imported inside the functions (Agg backend, no display) so that loading the
code location stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

import dagster as dg

from platform_assets.pictures import new_figure
from resources.lazy_imports import lazy_import

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure
else:
    np = lazy_import("numpy")

# Named colours (no '#', which would need escaping in a data URI), one per body, shared by
# the sketch, its legend text and the full figure.
COLORS = ("steelblue", "darkorange", "seagreen", "crimson", "purple", "saddlebrown", "teal", "olive")
INLINE_MARKDOWN_LIMIT = 1000  # Dagster 1.13 UI: Markdown shorter than this renders in place
SKETCH_WIDTH, SKETCH_HEIGHT, SKETCH_MARGIN = 240, 150, 6


def color(body: int) -> str:
    return COLORS[body % len(COLORS)]


def orbit_figure(
    names: Sequence[str],
    times: np.ndarray,
    positions: np.ndarray,
    mean: np.ndarray,
    relative_energy_error: np.ndarray,
) -> Figure:
    """Left: nominal x-y paths and ensemble-mean paths; right: |E(t) - E(0)| / |E(0)|. The
    legend sits below both axes (constrained layout keeps room for it)."""
    figure = new_figure(10, 5, layout="constrained")
    orbit, drift = figure.subplots(1, 2)
    for b, name in enumerate(names):
        orbit.plot(positions[:, b, 0], positions[:, b, 1], color=color(b), label=f"{name} (nominal)")
        orbit.plot(positions[-1, b, 0], positions[-1, b, 1], "o", color=color(b), markersize=4)  # where it ends
        orbit.plot(mean[:, b * 6], mean[:, b * 6 + 1], "--", color=color(b), label=f"{name} (ensemble mean)")
    orbit.set_aspect("equal", adjustable="datalim")
    orbit.set(title="orbit", xlabel="x", ylabel="y")
    drift.plot(times, relative_energy_error, color="black")
    drift.set(title="relative energy drift", xlabel="t", ylabel="|E-E0|/|E0|")
    drift.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    figure.legend(loc="outside lower center", ncols=min(4, 2 * len(names)), fontsize="small")
    return figure


def _simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: the fewest vertices within ``tolerance`` of the polyline."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        start, end = points[first], points[last]
        segment = end - start
        inner = points[first + 1 : last] - start
        length = float(np.hypot(*segment))
        if length == 0.0:
            distance = np.hypot(inner[:, 0], inner[:, 1])
        else:
            distance = np.abs(segment[0] * inner[:, 1] - segment[1] * inner[:, 0]) / length
        worst = int(np.argmax(distance))
        if distance[worst] > tolerance:
            keep[first + 1 + worst] = True
            stack += [(first, first + 1 + worst), (first + 1 + worst, last)]
    return points[keep]


def _sketch_svg(positions: np.ndarray, tolerance: float) -> str:
    """An SVG of the x-y tracks of ``positions`` (S, n, 3), equal aspect, y up."""
    xy = positions[:, :, :2]
    low, high = xy.reshape(-1, 2).min(axis=0), xy.reshape(-1, 2).max(axis=0)
    span = np.maximum(high - low, 1e-12)
    scale = min((SKETCH_WIDTH - 2 * SKETCH_MARGIN) / span[0], (SKETCH_HEIGHT - 2 * SKETCH_MARGIN) / span[1])
    offset = (np.array([SKETCH_WIDTH, SKETCH_HEIGHT]) - span * scale) / 2
    shapes = []
    for b in range(xy.shape[1]):
        pixels = (xy[:, b] - low) * scale + offset
        pixels[:, 1] = SKETCH_HEIGHT - pixels[:, 1]
        pixels = _simplify(pixels[:: max(1, len(pixels) // 4000)], tolerance).round().astype(int)
        if np.ptp(pixels, axis=0).max() < 2:  # a body that hardly moves: a dot
            x, y = pixels[-1]
            shapes.append(f"<circle cx='{x}' cy='{y}' r='2.5' fill='{color(b)}'/>")
        else:
            path = "L".join(f"{x},{y}" for x, y in pixels)
            shapes.append(f"<path d='M{path}' stroke='{color(b)}' fill='none'/>")
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {SKETCH_WIDTH} {SKETCH_HEIGHT}' "
        f"width='{SKETCH_WIDTH}' height='{SKETCH_HEIGHT}'>{''.join(shapes)}</svg>"
    )


def orbit_sketch_markdown(names: Sequence[str], positions: np.ndarray, note: str = "") -> dg.MetadataValue:
    """Inline Markdown (under Dagster's limit): the nominal tracks as an SVG data URI, and a
    text legend naming each body's colour. When the whole run does not fit even with a few
    pixels of tolerance (many revolutions), the last steps only, and the text says so."""
    legend = " · ".join(f"{name}: {color(b)}" for b, name in enumerate(names))
    steps = len(positions) - 1
    for window in (steps, 2000, 500, 100):
        if window > steps:
            continue
        shown = "" if window == steps else f", last {window} of {steps} steps"
        for tolerance in (0.5, 1.0, 2.0):
            svg = _sketch_svg(positions[steps - window :], tolerance)
            uri = "data:image/svg+xml," + quote(svg, safe="=/:,.'")
            markdown = f"![orbit]({uri})\n\nnominal x-y tracks ({legend}{shown}){note}"
            if len(markdown) < INLINE_MARKDOWN_LIMIT:
                return dg.MetadataValue.md(markdown)
    return dg.MetadataValue.md(f"nominal x-y tracks ({legend}){note}")  # no room for a picture
