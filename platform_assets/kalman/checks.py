"""Asset checks on the published posterior of each case (partitioned like the asset)."""

import io

import dagster as dg

from platform_assets.kalman.assets import posterior
from platform_assets.kalman.cases import output_prefix
from platform_assets.kalman.partitions import kalman_cases
from platform_assets.provenance import versioned_check
from resources.shared.blob import BlobStorage

# Normalized innovation variance E[d^2 / (HPH^T + R)] is 1 for a consistent ensemble;
# far outside this band the prior spread or the observation errors are mis-specified.
CONSISTENT_INNOVATION_BAND = (0.2, 5.0)


def read_output(blob: BlobStorage, case: str, name: str):
    import pandas as pd

    return pd.read_parquet(io.BytesIO(blob.read_bytes(f"{blob.resolve(output_prefix(case))}/{name}")))


@versioned_check(asset=posterior, partitions_def=kalman_cases, blocking=True)
def posterior_is_finite(context: dg.AssetCheckExecutionContext, blob: BlobStorage) -> dg.AssetCheckResult:
    """No NaN or infinite value anywhere in the posterior ensemble."""
    import numpy as np

    values = read_output(blob, context.partition_key, "posterior.parquet").to_numpy(dtype=float)
    bad = int((~np.isfinite(values)).sum())
    return dg.AssetCheckResult(passed=bad == 0, metadata={"non_finite_values": bad, "shape": str(values.shape)})


@versioned_check(asset=posterior, partitions_def=kalman_cases)
def posterior_spread_is_positive(context: dg.AssetCheckExecutionContext, blob: BlobStorage) -> dg.AssetCheckResult:
    """Every state variable keeps a positive ensemble spread (no ensemble collapse)."""
    summary = read_output(blob, context.partition_key, "summary.parquet")
    collapsed = summary.loc[~(summary["posterior_std"] > 0), "variable"].tolist()
    return dg.AssetCheckResult(
        passed=not collapsed,
        metadata={
            "collapsed_variables": dg.MetadataValue.json(collapsed[:20]),
            "min_posterior_std": float(summary["posterior_std"].min()),
            "mean_posterior_std": float(summary["posterior_std"].mean()),
            "mean_prior_std": float(summary["prior_std"].mean()),
        },
    )


@versioned_check(asset=posterior, partitions_def=kalman_cases)
def innovation_statistics(context: dg.AssetCheckExecutionContext, blob: BlobStorage) -> dg.AssetCheckResult:
    """Reports innovation statistics; warns when the normalized innovation variance shows
    an inconsistent prior spread or observation error."""
    import numpy as np

    innovations = read_output(blob, context.partition_key, "innovations.parquet")
    normalized_variance = float((innovations["normalized_innovation"] ** 2).mean())
    low, high = CONSISTENT_INNOVATION_BAND
    return dg.AssetCheckResult(
        passed=bool(np.isfinite(normalized_variance) and low <= normalized_variance <= high),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "observations": len(innovations),
            "innovation_mean": float(innovations["innovation"].mean()),
            "innovation_rms": float(np.sqrt((innovations["innovation"] ** 2).mean())),
            "normalized_innovation_variance": normalized_variance,
            "posterior_residual_rms": float(np.sqrt((innovations["posterior_residual"] ** 2).mean())),
        },
    )


kalman_checks = [posterior_is_finite, posterior_spread_is_positive, innovation_statistics]
