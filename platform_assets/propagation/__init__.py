"""Propagation family: ensemble n-body propagation on Dask, one partition per step count."""

# who answers for this family's assets (shown in the UI, used for alerts); applied to every
# asset of the family by platform_assets/families.py
OWNERS = ["team:orbital-dynamics"]
