"""The bilevel RLHF reproductions (arXiv 2410.15610; penalty method of Kwon et al., arXiv
2309.01753): ``bilevel-penalty-bias`` (``penalty_bias``, exact), and the spec-based
``bilevel-shift``, ``bilevel-rates`` and ``bilevel-neural`` (``specs/<name>.toml``) with their
summaries (``summaries``)."""

from zoprl.reproduce.bilevel.penalty_bias import run_penalty_bias
from zoprl.reproduce.bilevel.summaries import neural, rates, shift

__all__ = ["neural", "rates", "run_penalty_bias", "shift"]
