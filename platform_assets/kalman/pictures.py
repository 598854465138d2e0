"""What a reviewer sees of a case's posterior: one picture and, where the case ships its
truth (the demo cases do), how far prior and posterior are from it.

Drawn in the posterior's own step from the published outputs (`command_asset(describe=...)`),
so it shows the data that was published, locally and on Kubernetes alike.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.kalman.cases import CASES_PREFIX
from platform_assets.pictures import figure_png, new_figure, png_metadata
from resources.lazy_imports import lazy_import
from resources.shared.blob import BlobStorage

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_import("numpy")
    pd = lazy_import("pandas")

TRUTH_FILE = "truth.parquet"  # optional in a case folder: the state the data came from
# spelled out (not `case_key`) so that drawing stays inside this execution-only module
TRUTH_KEY_TEMPLATE = CASES_PREFIX + "{case}/" + TRUTH_FILE


def _parquet(blob: BlobStorage, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(blob.read_bytes(key)))


def posterior_png(summary: pd.DataFrame, innovations: pd.DataFrame, truth: np.ndarray | None) -> bytes:
    """Per state variable: prior and posterior mean with a one-spread band, the observations
    with their error bars, and the truth when known."""
    figure = new_figure(10, 4.5)
    axes = figure.subplots()
    x = np.arange(len(summary))
    for name, color in (("prior", "tab:gray"), ("posterior", "tab:blue")):
        mean, std = summary[f"{name}_mean"].to_numpy(), summary[f"{name}_std"].to_numpy()
        axes.plot(x, mean, color=color, label=f"{name} mean")
        axes.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, label=f"{name} ± spread")
    position = {variable: i for i, variable in enumerate(summary["variable"])}
    observed = innovations["variable"].map(position).to_numpy()
    axes.errorbar(
        observed,
        innovations["value"],
        yerr=innovations["error_std"],
        fmt="o",
        color="tab:red",
        markersize=4,
        label="observations",
    )
    if truth is not None:
        axes.plot(x, truth, color="black", linestyle="--", linewidth=1, label="truth")
    axes.set(xlabel="state variable", ylabel="value", title="prior vs posterior")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure_png(figure)


def describe_posterior(blob: BlobStorage, published: str, case: str) -> dict[str, Any]:
    """Metadata of one published posterior: the picture, and the RMSE to the truth of prior
    and posterior means when the case ships `truth.parquet`."""
    summary = _parquet(blob, f"{published}/summary.parquet")
    innovations = _parquet(blob, f"{published}/innovations.parquet")
    truth_key = TRUTH_KEY_TEMPLATE.format(case=case)
    truth = _parquet(blob, truth_key).iloc[:, 0].to_numpy(dtype=float) if blob.exists(truth_key) else None
    if truth is not None and len(truth) != len(summary):
        truth = None  # a truth of another shape describes another model: not comparable
    metadata: dict[str, Any] = {"posterior_plot": png_metadata(posterior_png(summary, innovations, truth), case)}
    if truth is not None:
        for name in ("prior", "posterior"):
            error = summary[f"{name}_mean"].to_numpy() - truth
            metadata[f"{name}_rmse_vs_truth"] = dg.MetadataValue.float(float(np.sqrt(np.mean(error**2))))
    return metadata
