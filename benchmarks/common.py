"""Shared helpers of zoprl's benchmarks (moved to ``zoprl.bench.timing``; re-exported here so
that the scripts under benchmarks/ keep working)."""

from zoprl.bench.timing import (
    device_line,  # noqa: F401
)
