"""Policies as NamedTuples of pure functions: tabular, linear and MLP (categorical, Gaussian)."""

from zoprl.policies.base import (
    Policy,
    action_probabilities,
    categorical_policy,
    check_compatible,
    flatten_params,
    num_params,
    policy_dimension,
    sample_from_uniform,
)
from zoprl.policies.defaults import default_policy
from zoprl.policies.mlp import mlp_categorical, mlp_gaussian
from zoprl.policies.tabular import linear_softmax, tabular_softmax

__all__ = [
    "Policy",
    "action_probabilities",
    "categorical_policy",
    "check_compatible",
    "default_policy",
    "flatten_params",
    "linear_softmax",
    "mlp_categorical",
    "mlp_gaussian",
    "num_params",
    "policy_dimension",
    "sample_from_uniform",
    "tabular_softmax",
]
