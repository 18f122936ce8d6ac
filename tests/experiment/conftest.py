"""Tiny sweeps shared by the experiment tests (compiling is the slow part: reuse results)."""

import pytest
from sweep_testing import tiny_raw

from zoprl.experiment import run_sweep, spec_from_dict


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """The TINY sweep run once, uninterrupted: (spec, SweepResult, folder)."""
    folder = tmp_path_factory.mktemp("tiny")
    spec = spec_from_dict(tiny_raw())
    return spec, run_sweep(spec, str(folder), progress=False), folder
