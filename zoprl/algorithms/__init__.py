"""Learning algorithms as (init, step) pairs of pure functions, and the run function."""

from zoprl.algorithms.base import Algorithm, PolicyState
from zoprl.algorithms.dpo import DPOHparams, DPOInfo, DPOState, PreferenceData, dpo
from zoprl.algorithms.preference_losses import PREFERENCE_LOSSES, dpo_loss, ipo_loss
from zoprl.algorithms.run import make_policy_metrics, make_run
from zoprl.algorithms.zbcpg import zbcpg
from zoprl.algorithms.zeroth_order import ZerothOrderHparams, ZerothOrderInfo
from zoprl.algorithms.zpg import zpg
from zoprl.algorithms.zspo import zspo

__all__ = ["Algorithm", "DPOHparams", "DPOInfo", "DPOState", "PREFERENCE_LOSSES", "PolicyState",
           "PreferenceData", "ZerothOrderHparams", "ZerothOrderInfo", "dpo", "dpo_loss",
           "ipo_loss", "make_policy_metrics", "make_run", "zbcpg", "zpg", "zspo"]
