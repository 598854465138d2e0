"""Propagation family: ensemble n-body propagation on Dask, one partition per step count."""
