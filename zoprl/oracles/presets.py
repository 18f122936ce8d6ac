"""Named simulated teachers with the values of B-Pref (Lee et al. 2021, arXiv 2111.03026).

Each preset changes one knob of the perfectly rational teacher; every other knob keeps its neutral
value (beta = inf, gamma = 1, mistake = skip = equal_margin = 0, link_shape = 1):

========  ====================  =========================================================
preset    change                B-Pref meaning
========  ====================  =========================================================
oracle    (none)                perfectly rational: prefers the higher return, always
noisy     beta = 1              Bradley-Terry answers with rationality beta = 1
mistake   mistake = 0.1         10% of the answers flipped
skip      skip = 0.1            10% of the queries skipped (see oracle.py for our rule)
myopic    gamma = 0.9           step h of the segment weighted by 0.9^(H - h)
equal     equal_margin = 0.1    tie (label 1/2) when the returns differ by less than 0.1
========  ====================  =========================================================

B-Pref sets its skip and equal thresholds relative to the mean segment return; here equal_margin
is in return units (0.1 matches B-Pref for returns of order one: scale it by the return scale of
your environment, e.g. ``oracle_params("equal", equal_margin=0.1 * scale)``), and skip is a rate.
Presets compose through overrides, e.g. ``oracle_params("noisy", mistake=0.1)``.
"""

from __future__ import annotations

import math

from zoprl.validation import check_choice

NEUTRAL = {
    "beta": math.inf,
    "gamma": 1.0,
    "mistake": 0.0,
    "skip": 0.0,
    "equal_margin": 0.0,
    "link_shape": 1.0,
}

PRESETS = {
    "oracle": {},
    "noisy": {"beta": 1.0},
    "mistake": {"mistake": 0.1},
    "skip": {"skip": 0.1},
    "myopic": {"gamma": 0.9},
    "equal": {"equal_margin": 0.1},
}
PRESET_NAMES = tuple(PRESETS)


def preset_values(name: str) -> dict:
    """All oracle knobs of preset ``name`` as a dict of floats (unknown name: ValueError)."""
    check_choice("preset", name, PRESET_NAMES)
    return {**NEUTRAL, **PRESETS[name]}
