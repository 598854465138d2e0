"""kalman-enkf: a stochastic ensemble Kalman filter as a plain console program.

It knows nothing about Dagster or blob storage: it reads local files named in a JSON
config and writes parquet files into an output directory (hermetic, like a Nix build).
"""

__version__ = "0.1.0"
