"""Evaluators: what a run records about its learner at every recorded iteration.

An evaluator is a NamedTuple of pure functions built by a factory that closes over the static
settings (environment, policy, oracle, options):

    aux = evaluator.init(key, hparams, env_params, oracle_params)     once per run
    out = evaluator.metrics(key, state, hparams, env_params, oracle_params, aux)

``init`` computes per-run constants once (J* by value iteration, an equilibrium, ...), which the
run carries; ``metrics`` returns a dict of scalars (name -> array) from the algorithm's state
(``state.params`` the policy; algorithms with more, e.g. a fitted reward or preference model,
expose it in their state), the hyperparameters (e.g. a regularisation strength) and the oracle's
params (e.g. a preference tensor). ``key`` is fresh for every record and never charged as
queries. The run adds the cumulative ``trajectories`` and ``queries`` itself.

Evaluators are registered by name (``register_evaluator``) and named in a spec's
``[evaluation]`` table (``name`` and the factory's keyword-only options). ``default`` picks the
exact evaluator on finite environments with a categorical policy and Monte Carlo otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

from zoprl.validation import check_choice


class Evaluator(NamedTuple):
    name: str
    init: Callable  # (key, hparams, env_params, oracle_params) -> aux (pytree, or None)
    metrics: Callable  # (key, state, hparams, env_params, oracle_params, aux) -> dict


EVALUATORS: dict[str, Callable[..., Evaluator]] = {}
"""Evaluator factories ``(env, policy, oracle, *, <options>) -> Evaluator`` by name."""


def register_evaluator(
    name: str, factory: Callable[..., Evaluator], *, overwrite: bool = False
) -> Callable[..., Evaluator]:
    """Add an evaluator factory ``(env, policy, oracle, *, <options>) -> Evaluator``; its
    keyword-only arguments are the options a spec's ``[evaluation]`` table may set."""
    if name in EVALUATORS and not overwrite:
        raise ValueError(f"evaluator {name!r} is already registered")
    EVALUATORS[name] = factory
    return factory


def evaluator_options(name: str) -> dict[str, inspect.Parameter]:
    """The options (keyword-only arguments) of evaluator ``name``."""
    check_choice("evaluator", name, tuple(EVALUATORS))
    return {
        n: p
        for n, p in inspect.signature(EVALUATORS[name]).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def make_evaluator(name: str, env, policy, oracle=None, **options) -> Evaluator:
    """The evaluator ``name`` for (env, policy, oracle) with ``options`` (ValueError naming an
    unknown name or option)."""
    valid = evaluator_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"evaluator {name!r} has no option {unknown[0]!r}; valid: "
            f"{', '.join(valid) or '(none)'}"
        )
    return EVALUATORS[name](env, policy, oracle, **options)


__all__ = ["EVALUATORS", "Evaluator", "evaluator_options", "make_evaluator", "register_evaluator"]
