"""Named reproductions of the zeroth-order papers' claims: ``zoprl reproduce NAME|all``.

Each experiment writes ``<out>/<name>/`` (``<out>/<name>-full/`` for the full profile, so that
it never meets the committed quick results): the tidy table (results.parquet), the manifest, its
figures (PNG and PDF) and a summary table (summary.csv). Profiles: ``quick`` (a 2-core CPU, in
minutes) and ``full`` (sized for a GPU). The spec-based experiments read
``zoprl/reproduce/specs/<name>.toml``, whose ``[profiles.<profile>]`` table holds the dotted-path
overrides of that profile (none for quick: the file is the quick profile).

    gridworld-comparison   ZPG / ZBCPG against DPO, RLHF-PPO and the ceilings (arXiv 2409.17401)
    stochasticity          final value gap against the GridWorld's slip probability
    links                  logistic, probit and extreme-value teachers; ZPG matched and
                           mismatched against ZSPO (arXiv 2506.03066)
    blocks                 ZBCPG with K parallel blocks against wall-clock time and queries
    reward-misspecification  a non-Markovian teacher and a reward class too small: every
                           method tuned (``misspecification``)
    nash-intransitive      the Bradley-Terry pipeline against general-preference learners on
                           transitive and intransitive games (arXiv 2402.07314)
    nash-offline           the offline pessimistic learner's gap against the data size at
                           three coverage levels, with and without pessimism
    nash-online            online main agent + enhancer against offline at equal query
                           budgets; the enhancer ablation
    nash-solvers           exact and sampled self-play learners on random games: which
                           converge and which cycle
    nash-gridworld         the preference game on trajectories: ZPG, ZSPO, online DPO and
                           RLHF-PPO against a cyclic teacher, scored by the exact gap, every
                           method tuned (``nash_gridworld``)
    rates                  fitted log-log slopes against the predicted rates (zoprl.theory)
    bilevel-penalty-bias   ||grad Phi_lambda - grad F|| against lambda, exact (arXiv 2309.01753)
    bilevel-shift          the penalty method against decoupled, offline RLHF and the exact
                           hypergradient under distribution shift (arXiv 2410.15610)
    bilevel-rates          E||grad F||^2 of the penalty method against samples
    bilevel-neural         MLP reward and policy on CartPole-v1 (full: Acrobot-v1, a width sweep)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import NamedTuple

from zoprl.experiment.spec import SpecError, nearest

SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "specs")
PROFILES = ("quick", "full")


class Reproduction(NamedTuple):
    describe: Callable  # () -> one sentence (spec files are read when asked, not at import)
    run: Callable  # (out_dir, profile, fresh, progress, log) -> list of written paths


def _spec_based(name: str, summarise: str) -> Reproduction:
    """A reproduction from ``specs/<name>.toml``: tuned with the tuning protocol when the spec
    has a [tuning] table (``zoprl.tuning``: <out>/tuning, <out>/evaluation, tuned.yaml,
    chosen.csv, sensitivity figure), else one sweep into <out>; then the summary of
    ``figures.<summarise>`` (or of ``module:function``) from the (evaluation) table."""

    def run(out_dir, profile, fresh, progress, log):
        from zoprl.experiment import run_sweep
        from zoprl.hosts import share
        from zoprl.reproduce import figures
        from zoprl.reproduce.specs_io import load_profile
        from zoprl.tuning import tune

        spec = load_profile(os.path.join(SPECS, f"{name}.toml"), profile)
        if spec.tuning is not None:
            tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
            result, written = tuned.evaluation, list(tuned.written)
        else:
            result = run_sweep(spec, out_dir, fresh=fresh, progress=progress)
            written = [result.table_path, result.manifest_path]
        module, _, function = summarise.rpartition(":")
        source = importlib.import_module(module) if module else figures
        summary = share(  # process 0 writes (zoprl.hosts)
            lambda: getattr(source, function)(result.table, result.manifest, out_dir, log)
        )
        return written + list(summary)

    return Reproduction(lambda: _first_comment(name), run)


def _first_comment(name: str) -> str:
    """The first sentence of the spec file's opening comment."""
    lines = []
    with open(os.path.join(SPECS, f"{name}.toml")) as f:
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    return text.split(". ")[0].rstrip(".") + "."


def _module_run(module: str) -> Callable:
    """The runner ``zoprl.reproduce.<module>.run_<module>``, imported when it runs."""

    def run(out_dir, profile, fresh, progress, log):
        source = importlib.import_module(f"zoprl.reproduce.{module}")
        return getattr(source, f"run_{module}")(out_dir, profile, fresh, progress, log)

    return run


def _rates(out_dir, profile, fresh, progress, log):
    from zoprl.hosts import share
    from zoprl.reproduce.rates import run_rates

    return share(lambda: run_rates(out_dir, profile, log=log))  # on process 0 alone


def _bilevel_penalty_bias(out_dir, profile, fresh, progress, log):
    from zoprl.hosts import share
    from zoprl.reproduce.bilevel import run_penalty_bias

    return share(lambda: run_penalty_bias(out_dir, profile, log=log))  # on process 0 alone


EXPERIMENTS: dict[str, Reproduction] = {
    "gridworld-comparison": _spec_based("gridworld-comparison", "comparison"),
    "stochasticity": _spec_based("stochasticity", "stochasticity"),
    "links": _spec_based("links", "links"),
    "blocks": _spec_based("blocks", "blocks"),
    "reward-misspecification": Reproduction(
        lambda: _first_comment("reward-misspecification"), _module_run("misspecification")
    ),
    "nash-intransitive": Reproduction(
        lambda: (
            "the Bradley-Terry pipeline against general-preference learners: gap against "
            "queries on transitive and intransitive games"
        ),
        _module_run("nash_intransitive"),
    ),
    "nash-offline": Reproduction(
        lambda: "offline pessimistic Nash learning: gap against n at three coverage levels",
        _module_run("nash_offline"),
    ),
    "nash-online": Reproduction(
        lambda: "online main agent + enhancer against offline at equal budgets; enhancer ablation",
        _module_run("nash_online"),
    ),
    "nash-solvers": Reproduction(
        lambda: "exact and sampled self-play learners on random games: which converge, which cycle",
        _module_run("nash_solvers"),
    ),
    "nash-gridworld": Reproduction(
        lambda: _first_comment("nash-gridworld"), _module_run("nash_gridworld")
    ),
    "rates": Reproduction(
        lambda: (
            "fitted log-log slopes of four rates against the predicted "
            "ones (variance vs N, inversion bias vs M, smoothing bias vs mu, "
            "stationarity vs T)"
        ),
        _rates,
    ),
    "bilevel-penalty-bias": Reproduction(
        lambda: "||grad Phi_lambda - grad F|| and F - Phi_lambda against lambda, exact, slope -1",
        _bilevel_penalty_bias,
    ),
    "bilevel-shift": _spec_based("bilevel-shift", "zoprl.reproduce.bilevel:shift"),
    "bilevel-rates": _spec_based("bilevel-rates", "zoprl.reproduce.bilevel:rates"),
    "bilevel-neural": _spec_based("bilevel-neural", "zoprl.reproduce.bilevel:neural"),
}


def reproduce(
    name: str,
    profile: str = "quick",
    out_root: str = "results",
    fresh: bool = False,
    progress: bool = True,
    log=print,
) -> list[str]:
    """Run reproduction ``name`` (or ``all``) into ``out_root/<name>`` (``<name>-full`` for the
    full profile); returns the written paths. JAX's persistent compilation cache is turned on
    unless this process already chose (``--no-compile-cache``) or a cache folder is set
    (``zoprl.experiment.compile_cache.enable_unless_decided``): the evaluation sweep of a tuned
    reproduction loads its tuning sweep's programs."""
    from zoprl.experiment.compile_cache import enable_unless_decided

    enable_unless_decided()
    names = list(EXPERIMENTS) if name == "all" else [name]
    for n in names:
        if n not in EXPERIMENTS:
            raise SpecError(
                f"unknown reproduction {n!r}{nearest(n, EXPERIMENTS)}; valid: "
                f"{', '.join(EXPERIMENTS)}, all"
            )
    if profile not in PROFILES:
        raise SpecError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    written = []
    for n in names:
        log(f"== {n} ({profile}): {EXPERIMENTS[n].describe()}")
        folder = os.path.join(out_root, n if profile == "quick" else f"{n}-{profile}")
        written += EXPERIMENTS[n].run(folder, profile, fresh, progress, log)
    return [str(p) for p in written]


__all__ = ["EXPERIMENTS", "PROFILES", "Reproduction", "reproduce"]
