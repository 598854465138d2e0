"""The pictures: the full figure's legend stays off the tracks; the inline sketch fits."""

from urllib.parse import unquote
from xml.etree import ElementTree

import numpy as np
import pytest

from platform_assets.pictures import figure_png
from platform_assets.propagation import plots
from platform_assets.propagation.ensemble import EnsembleSpec, propagate_ensemble
from platform_assets.propagation.model import relative_energy_error, system_bodies, total_energy


@pytest.mark.parametrize("system", ["planet_satellite", "body1_body2"])
def test_the_legend_covers_no_track(system):
    """The legend is drawn outside both axes, so it cannot hide the planet's (or any) track."""
    bodies = system_bodies(system)
    run = propagate_ensemble(bodies, EnsembleSpec(16, 1e-3, 1e-3, 0, 16), 0.01, 400, "verlet")
    error = relative_energy_error(total_energy(run.nominal_positions, run.nominal_velocities, bodies.masses))
    figure = plots.orbit_figure(bodies.names, np.arange(401) * 0.01, run.nominal_positions, run.mean, error)
    figure.canvas.draw()
    [legend] = figure.legends
    box = legend.get_window_extent()
    for axes in figure.axes:
        assert not box.overlaps(axes.get_window_extent()), axes.get_title()
    assert len(legend.get_texts()) == 2 * bodies.n_bodies
    assert figure_png(figure).startswith(b"\x89PNG")


@pytest.mark.parametrize("steps", [50, 500, 5000, 40000])
def test_the_inline_sketch_stays_under_the_ui_limit_and_draws_every_body(steps):
    bodies = system_bodies("planet_satellite")
    run = propagate_ensemble(bodies, EnsembleSpec(2, 1e-3, 1e-3, 0, 2), 0.01, steps, "verlet")
    markdown = plots.orbit_sketch_markdown(bodies.names, run.nominal_positions).value
    assert len(markdown) < plots.INLINE_MARKDOWN_LIMIT
    image = markdown.split("\n\n")[0]
    svg = ElementTree.fromstring(unquote(image[len("![orbit](data:image/svg+xml,") : -1]))
    assert len(svg) == bodies.n_bodies
    assert ("last 2000 of" in markdown) == (steps > 2000)  # a long run shows its end, and says so
