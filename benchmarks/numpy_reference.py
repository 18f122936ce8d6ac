"""The vectorised NumPy ZPG reference (moved to ``zoprl.bench.numpy_reference`` so that the
installed package carries it; re-exported here for the scripts under benchmarks/)."""

from zoprl.bench.numpy_reference import *  # noqa: F401,F403
from zoprl.bench.numpy_reference import __all__  # noqa: F401
