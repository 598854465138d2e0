"""Kalman family: a stochastic ensemble Kalman filter run by an external program, once per case inputs."""

# who answers for this family's assets (shown in the UI, used for alerts); applied to every
# asset of the family by platform_assets/families.py
OWNERS = ["team:reservoir-assimilation"]
