"""Console entry point: ``kalman-enkf iterate --config-file cfg.json [--output-dir DIR]``.

Exit status: 0 success, 2 invalid input (message on stderr names the problem).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from kalman_enkf import __version__
from kalman_enkf.analysis import Localization, es_mda
from kalman_enkf.blas import blas_summary, pin_threads
from kalman_enkf.config import InputError, load_config
from kalman_enkf.io import read_problem, write_outputs
from kalman_enkf.pipes import PipesReporter


def iterate(config_file: str, output_dir: str | None, reporter: PipesReporter) -> dict:
    config = load_config(config_file, output_dir)
    problem = read_problem(config.prior, config.observations)
    localization = None
    if config.localization_radius is not None:
        positions = np.arange(len(problem.variables), dtype=float)
        localization = Localization.for_positions(positions, positions[problem.obs_index], config.localization_radius)
    rng = np.random.default_rng(config.seed)  # seed None -> fresh OS entropy (unseeded)
    posterior = es_mda(
        problem.prior,
        problem.observations,
        problem.obs_index,
        problem.error_std,
        rng,
        iterations=config.es_mda_iterations,
        inflation=config.inflation,
        localization=localization,
    )
    frames = write_outputs(config.output_dir, problem, posterior)
    innovations = frames["innovations"]
    summary = frames["summary"]
    stats = {
        "program_version": __version__,
        "ensemble_size": int(problem.prior.shape[0]),
        "state_size": int(problem.prior.shape[1]),
        "observation_count": int(len(innovations)),
        "es_mda_iterations": config.es_mda_iterations,
        "inflation": config.inflation,
        "localization_radius": config.localization_radius,
        "innovation_mean": float(innovations["innovation"].mean()),
        "innovation_rms": float(np.sqrt((innovations["innovation"] ** 2).mean())),
        "normalized_innovation_variance": float((innovations["normalized_innovation"] ** 2).mean()),
        "posterior_residual_rms": float(np.sqrt((innovations["posterior_residual"] ** 2).mean())),
        "mean_prior_spread": float(summary["prior_std"].mean()),
        "mean_posterior_spread": float(summary["posterior_std"].mean()),
    }
    reporter.report_materialization(stats)
    return stats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kalman-enkf", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("iterate", help="run the EnKF / ES-MDA analysis for one case")
    run.add_argument("--config-file", required=True, help="JSON run configuration")
    run.add_argument("--output-dir", help="output folder (default: config 'output_dir' or $OUTPUT_PATH)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reporter = PipesReporter.from_env()
    reporter.open()
    try:
        blas = blas_summary(pin_threads())  # before any BLAS call
        stats = iterate(args.config_file, args.output_dir, reporter)
    except InputError as exc:
        print(f"kalman-enkf: error: {exc}", file=sys.stderr)
        reporter.close(str(exc))
        return 2
    reporter.close()
    print(
        "kalman-enkf: analysed {ensemble_size} members x {state_size} variables with "
        "{observation_count} observations; innovation rms {innovation_rms:.4g}, "
        "posterior residual rms {posterior_residual_rms:.4g}; BLAS {blas}".format(**stats, blas=blas)
    )
    return 0


def run() -> None:
    """Console script. Exits without interpreter finalization: right after an exception in a
    parquet read, pyarrow's C++ thread pool can abort a normal shutdown ("terminate called
    without an active exception", SIGABRT) and turn exit status 2 into -6."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
