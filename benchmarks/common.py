"""Shared helpers of zoprl's benchmarks (moved to ``zoprl.bench.timing``; re-exported here so
that the scripts under benchmarks/ keep working)."""

from zoprl.bench.timing import (compile_fn, device_description, device_line,  # noqa: F401
                                paired_ratio, print_table, time_fn, time_interleaved, write_csv,
                                write_json)
