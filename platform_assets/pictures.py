"""Pictures in asset metadata: a matplotlib figure as a PNG the Dagster UI can show.

Dagster 1.13 has no image metadata type; markdown with an embedded PNG is what its UI
renders as a picture. Markdown shorter than 1000 characters renders in place, longer (every
PNG) one click away ("Show Markdown"); see propagation/plots.py for an inline SVG sketch. matplotlib is imported only
when a picture is drawn (Agg backend, no display), never when the code location loads.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Literal

import dagster as dg

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float, layout: Literal["constrained", "tight"] | None = None) -> Figure:
    """A figure detached from any display (safe in run workers and threads)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout=layout)


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_metadata(png: bytes, title: str) -> dg.MetadataValue:
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
