"""The latent reward is read only by oracles, evaluators and the ceilings: every registered
algorithm that does not declare ``reads_latent_reward`` never names it in its module, nor in the
modules that learners from preferences are built from."""

import importlib
import inspect
import pathlib
import re

import pytest

import zoprl
from zoprl.experiment import ALGORITHMS

# the trajectory field, the return helpers and the ceilings' reward function; "reads_latent_reward"
# (the flag) is not an access
ACCESS = re.compile(
    r"(?<![A-Za-z0-9_])(latent_reward|latent_return|total_return|true_reward)\b"
    r"|zoprl\.oracles\.utilities|from zoprl\.oracles import utilities"
)
ROOT = pathlib.Path(zoprl.__file__).parent
SHARED = [
    "estimators/zeroth_order.py",
    "estimators/directions.py",
    "algorithms/zeroth_order.py",
    "algorithms/preference_losses.py",
    "algorithms/bilevel_common.py",
    "bilevel/estimators.py",
    "algorithms/preference_game.py",
    "preference_data.py",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "reward_models").glob("*.py"))),
]


def latent_reward_accesses(source: str) -> list[str]:
    return [m.group(0) for m in ACCESS.finditer(source)]


def test_the_guard_sees_an_access_and_not_the_flag():
    assert latent_reward_accesses("r = traj.latent_reward.sum()") == ["latent_reward"]
    assert latent_reward_accesses("x = total_return(traj)") == ["total_return"]
    assert latent_reward_accesses("Algorithm(..., reads_latent_reward=False)") == []


LEARNERS = sorted(name for name, entry in ALGORITHMS.items() if not entry.reads_latent_reward)


@pytest.mark.parametrize("name", LEARNERS)
def test_learners_from_preferences_never_name_the_latent_reward(name):
    module = importlib.import_module(ALGORITHMS[name].factory.__module__)
    assert latent_reward_accesses(inspect.getsource(module)) == [], name


@pytest.mark.parametrize("module", SHARED)
def test_shared_learning_modules_never_name_the_latent_reward(module):
    assert latent_reward_accesses((ROOT / module).read_text()) == [], module


def test_ceilings_are_the_only_readers():
    assert {n for n, e in ALGORITHMS.items() if e.reads_latent_reward} == {
        "ppo_true_reward",
        "ppo_reach_avoid",
        "reinforce_true_reward",
        "es_true_reward",
        "bilevel_exact_hypergradient",  # the teacher's exact answers (``bilevel.finite``)
    }


# the oracle's preference tensor (TensorParams.preference) and the oracle params' model part
TENSOR_ACCESS = re.compile(r"\.preference(?![A-Za-z0-9_])|oracle_params\.model|TensorParams")
NASH_LEARNERS = sorted(
    name
    for name in LEARNERS
    if "preference_game"
    in inspect.getsource(importlib.import_module(ALGORITHMS[name].factory.__module__))
)


def test_the_tensor_guard_sees_an_access():
    assert TENSOR_ACCESS.search("P = oracle_params.model.preference")
    assert TENSOR_ACCESS.search("params.preference[x]")
    assert not TENSOR_ACCESS.search("state.preference_estimate")


def test_the_nash_learners_are_guarded():
    assert {"nash_offline", "nash_online", "bt_pipeline", "sppo_self_play"} <= set(NASH_LEARNERS)


@pytest.mark.parametrize("name", NASH_LEARNERS)
def test_nash_learners_never_read_the_preference_tensor(name):
    module = importlib.import_module(ALGORITHMS[name].factory.__module__)
    assert not TENSOR_ACCESS.search(inspect.getsource(module)), name
    assert not TENSOR_ACCESS.search((ROOT / "algorithms/preference_game.py").read_text())
