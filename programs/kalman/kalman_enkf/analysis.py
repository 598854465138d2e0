"""The numerical core: stochastic EnKF analysis with perturbed observations, ES-MDA.

Ensembles are arrays of shape (members, state). The observation operator is a selection
(observation j observes state variable ``obs_index[j]``), the common case for gridded
reservoir/field data and what lets the exact Kalman filter serve as a test oracle.
Everything is vectorized over members: the cost is a handful of BLAS-3 products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kalman_enkf.blas import spd_solve


def gaspari_cohn(distance: np.ndarray, radius: float) -> np.ndarray:
    """Gaspari-Cohn (1999) 5th-order compactly supported correlation.

    ``radius`` is the distance at which the taper reaches zero (support = 2c, c = radius/2).
    """
    r = np.abs(np.asarray(distance, dtype=float)) / (radius / 2.0)
    taper = np.zeros_like(r)
    near = r <= 1.0
    far = (r > 1.0) & (r < 2.0)
    x = r[near]
    taper[near] = (((-0.25 * x + 0.5) * x + 0.625) * x - 5.0 / 3.0) * x**2 + 1.0
    x = r[far]
    taper[far] = ((((x / 12.0 - 0.5) * x + 0.625) * x + 5.0 / 3.0) * x - 5.0) * x + 4.0 - 2.0 / (3.0 * x)
    return taper


@dataclass(frozen=True)
class Localization:
    """Schur-product tapers for the state-obs and obs-obs covariances."""

    state_obs: np.ndarray  # (n, m)
    obs_obs: np.ndarray  # (m, m)

    @classmethod
    def for_positions(cls, state_positions: np.ndarray, obs_positions: np.ndarray, radius: float) -> Localization:
        state_obs = gaspari_cohn(state_positions[:, None] - obs_positions[None, :], radius)
        obs_obs = gaspari_cohn(obs_positions[:, None] - obs_positions[None, :], radius)
        return cls(state_obs=state_obs, obs_obs=obs_obs)


def inflate(ensemble: np.ndarray, factor: float) -> np.ndarray:
    """Multiplicative inflation of the anomalies around the ensemble mean."""
    if factor == 1.0:
        return ensemble
    mean = ensemble.mean(axis=0, keepdims=True)
    return mean + factor * (ensemble - mean)


def ensemble_space(members: int, n_obs: int) -> bool:
    """Whether the unlocalized update solves its system in ensemble space (N x N) rather
    than in observation space (m x m): the one with fewer flops (see `analysis_flops`)."""
    return _system_flops(members, n_obs, ensemble=True) <= _system_flops(members, n_obs, ensemble=False)


def _system_flops(members: int, n_obs: int, *, ensemble: bool) -> float:
    """Flops from the whitened observations to the (N, N) transform, for either system."""
    gram = members * n_obs * (members if ensemble else n_obs)  # syrk: N^2 m or m^2 N
    if ensemble:  # right-hand sides (N,m)(m,N); Cholesky of N x N; two triangular solves, N columns
        return gram + 2 * members**2 * n_obs + members**3 / 3 + 2 * members**3
    # Cholesky of m x m; two triangular solves with N columns; weights (N,m) times (m,N)
    return gram + n_obs**3 / 3 + 2 * n_obs**2 * members + 2 * members**2 * n_obs


def analysis_flops(n_state: int, n_obs: int, members: int, *, localized: bool = False) -> float:
    """Floating-point operations of one `enkf_analysis` on the path it takes: the BLAS and
    LAPACK work, not the O(N (n + m)) element-wise work nor the random draws."""
    if localized:
        # syrk (m x m), Cholesky, two triangular solves with N columns, the (m, n)
        # cross-covariance and the weights times it
        return members * n_obs**2 + n_obs**3 / 3 + 2 * n_obs**2 * members + 4 * n_state * n_obs * members
    system = _system_flops(members, n_obs, ensemble=ensemble_space(members, n_obs))
    return system + 2 * members**2 * n_state  # the (N, N) transform applied to the ensemble


def enkf_analysis(
    ensemble: np.ndarray,
    observations: np.ndarray,
    obs_index: np.ndarray,
    error_std: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 1.0,
    localization: Localization | None = None,
    cholesky: bool = True,
) -> np.ndarray:
    """One stochastic EnKF update with perturbed observations.

    ``alpha`` scales the observation error covariance (ES-MDA); 1.0 is the plain EnKF.
    ``cholesky=False`` forces LU solves (the reference the Cholesky path is tested against).
    Returns the analysis ensemble (members, state).

    Everything observed is whitened by R^-1/2 (R = alpha diag(error_std^2)): the observed
    anomalies S = H A R^-1/2 and the perturbed innovations D = (y + e - H x) R^-1/2, which
    for e ~ N(0, R) are (y - H x) R^-1/2 plus standard normals. The system to solve then
    has the identity where R was: I + S^T S / (N-1) (m x m) or, by Sherman-Morrison-Woodbury,
    I + S S^T / (N-1) (N x N), whichever is cheaper; both are symmetric positive definite,
    so a Cholesky solve. Without localization the update is a transform of the ensemble,
    X_a = T X (Evensen's X5, T an N x N matrix): a single GEMM touches the n-sized state
    and the anomalies (N, n) are never formed. Localization tapers P H^T and H P H^T
    element-wise, which breaks both low-rank forms, so it takes the state-space update.
    """
    members = ensemble.shape[0]
    inverse_std = 1.0 / (np.sqrt(alpha) * error_std)
    observed = np.take(ensemble, obs_index, axis=1)  # H x_i, (N, m)
    observed *= inverse_std
    whitened = observed - observed.mean(axis=0)  # S = H A R^-1/2
    innovations = rng.standard_normal(observed.shape)  # e_i R^-1/2
    innovations -= observed
    innovations += observations * inverse_std  # D = (y + e_i - H x_i) R^-1/2, (N, m)
    scale = 1.0 / (members - 1)

    if localization is not None:
        return _localized_update(ensemble, whitened, innovations, localization, cholesky)
    if ensemble_space(members, observations.size):
        # D C^-1 H A^T / (N-1) = D S^T (I + S S^T / (N-1))^-1 / (N-1)   (push-through identity)
        transform = spd_solve(_identity_plus(whitened @ whitened.T, scale), innovations @ whitened.T, cholesky=cholesky)
    else:
        weights = spd_solve(_identity_plus(whitened.T @ whitened, scale), innovations, cholesky=cholesky)
        transform = weights @ whitened.T
    transform *= scale
    # increments = T A with A = (I - 11^T/N) X: subtracting each row's mean makes that T X
    transform -= transform.mean(axis=1, keepdims=True)
    transform.flat[:: members + 1] += 1.0
    return transform @ ensemble


def _identity_plus(gram: np.ndarray, scale: float) -> np.ndarray:
    """I + scale * gram, in place."""
    gram *= scale
    gram.flat[:: gram.shape[0] + 1] += 1.0
    return gram


def _localized_update(
    ensemble: np.ndarray, whitened: np.ndarray, innovations: np.ndarray, localization: Localization, cholesky: bool
) -> np.ndarray:
    """State-space update with Schur-product tapers rho: X_a = X + D C~^-1 (rho_xy o S^T A / (N-1))
    with C~ = I + rho_yy o S^T S / (N-1) (a Schur product of PSD matrices is PSD: still SPD)."""
    scale = 1.0 / (ensemble.shape[0] - 1)
    system = whitened.T @ whitened  # syrk, (m, m)
    system *= localization.obs_obs
    weights = spd_solve(_identity_plus(system, scale), innovations, cholesky=cholesky)  # (N, m)
    cross_cov = whitened.T @ (ensemble - ensemble.mean(axis=0))  # (m, n)
    cross_cov *= localization.state_obs.T
    cross_cov *= scale
    return ensemble + weights @ cross_cov


def es_mda(
    ensemble: np.ndarray,
    observations: np.ndarray,
    obs_index: np.ndarray,
    error_std: np.ndarray,
    rng: np.random.Generator,
    *,
    iterations: int = 1,
    inflation: float = 1.0,
    localization: Localization | None = None,
) -> np.ndarray:
    """Ensemble smoother with multiple data assimilation (Emerick & Reynolds 2013).

    ``iterations`` equal inflation factors alpha = iterations (sum of 1/alpha = 1), so one
    iteration is exactly the stochastic EnKF; for a linear model more iterations converge
    to the same Gaussian posterior.
    """
    current = inflate(np.asarray(ensemble, dtype=float), inflation)
    for _ in range(iterations):
        current = enkf_analysis(
            current,
            observations,
            obs_index,
            error_std,
            rng,
            alpha=float(iterations),
            localization=localization,
        )
    return current
