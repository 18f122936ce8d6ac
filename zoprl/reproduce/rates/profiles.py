"""The sizes of the ``rates`` experiment (RatesProfile, PROFILES) and the names of what it
measures (quantities, their metrics and x columns; the run labels of the tidy table)."""

from __future__ import annotations

import dataclasses

import numpy as np

QUANTITIES = (
    "variance_vs_pairs",
    "inversion_bias_vs_queries",
    "smoothing_bias_vs_mu",
    "directional_bias_vs_mu",
    "stationarity_vs_iterations",
)
"""The measured quantities; each is the ``cell`` of its rows and a key of PREDICTED_RATES."""

METRICS = {
    "variance_vs_pairs": "gradient_rms_error",
    "inversion_bias_vs_queries": "inversion_bias",
    "smoothing_bias_vs_mu": "smoothing_bias",
    "directional_bias_vs_mu": "directional_bias",
    "stationarity_vs_iterations": "avg_grad_norm_sq",
}
"""The metric whose slope is fitted, per quantity."""

X_COLUMNS = {
    "variance_vs_pairs": "static.num_pairs",
    "inversion_bias_vs_queries": "oracle.num_queries",
    "smoothing_bias_vs_mu": "hp.mu",
    "directional_bias_vs_mu": "hp.mu",
    "stationarity_vs_iterations": "static.iterations",
}
"""The x column of each quantity."""

SLOPE_COLUMNS = (
    "quantity",
    "x",
    "metric",
    "slope",
    "low",
    "high",
    "expected",
    "contains_expected",
    "num_x",
    "num_seeds",
    "x_min",
    "x_max",
    "note",
)

ENVIRONMENT = "GridWorld"
ORACLE = "logistic/noisy"
ALGORITHM = "zpg"
LABEL = "ZPG"


@dataclasses.dataclass(frozen=True)
class RatesProfile:
    """Sizes of the ``rates`` experiment (see the module doc for what each measures)."""

    name: str
    seed: int = 0  # every key derives from jax.random.key(seed)
    theta_seed: int = 1  # theta = theta_scale * normal(key(theta_seed), [25, 4])
    theta_scale: float = 1.0
    mu: float = 2.0  # the ZPG radius of (i), (ii), (iv) (README's default)
    num_queries: int = 10  # M of (i) and (iv)
    # (i) variance against N
    pairs_grid: tuple = (16, 64, 256, 1024, 4096)
    variance_directions: int = 16
    variance_replicates: int = 16
    # (ii) inversion bias against M
    queries_grid: tuple = (4, 8, 16, 32, 64, 128, 256, 512)
    bias_pairs: int = 2**21  # pairs per M, all replicates together
    bias_replicates: int = 16
    bias_chunk_pairs: int = 4096  # pairs per replicate per rollout batch (memory bound)
    bias_fit_min_queries: int = 32
    bias_min_snr: float = 5.0
    # (iii) smoothing bias against mu
    mu_grid: tuple = (0.125, 0.25, 0.5, 1.0, 2.0)
    smoothing_groups: int = 16
    smoothing_directions: int = 4096  # antithetic directions per group
    directional_directions: int = 16
    # (iv) stationarity against T
    iterations_grid: tuple = (50, 100, 200, 400, 800)
    stationarity_seeds: int = 16
    stationarity_pairs: int = 256
    step_constant: float = 2.0
    # slope fits
    num_resamples: int = 2000


PROFILES = {
    # 2-core CPU: 70-80 s including compilation (measured on a loaded 2-core machine)
    "quick": RatesProfile(name="quick"),
    # one GPU: more replicates, wider N / M / mu / T ranges
    "full": RatesProfile(
        name="full",
        pairs_grid=(16, 64, 256, 1024, 4096, 16384, 65536),
        variance_directions=32,
        variance_replicates=32,
        queries_grid=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        bias_pairs=2**25,
        bias_replicates=32,
        bias_chunk_pairs=16384,
        mu_grid=tuple(float(m) for m in np.geomspace(0.125, 2.0, 9)),
        smoothing_groups=32,
        smoothing_directions=16384,
        directional_directions=32,
        iterations_grid=(50, 100, 200, 400, 800, 1600, 3200),
        stationarity_seeds=32,
    ),
}


def get_profile(profile) -> RatesProfile:
    """A RatesProfile, by name (``PROFILES``) or as given; ValueError naming an unknown name."""
    if isinstance(profile, RatesProfile):
        return profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"unknown rates profile {profile!r}; valid choices: {sorted(PROFILES)}")
    return PROFILES[profile]
