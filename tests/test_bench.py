"""The benchmark suite's machinery at tiny sizes: flags, output files and their columns, the
target check. Speed is never asserted."""

from __future__ import annotations

import argparse
import csv
import json
import os

import pytest

import zoprl.bench
from zoprl.bench.cases import CASES, GPU, PROFILES, TINY
from zoprl.bench.scaling import Limits, batches, scaling_figure, scaling_limits
from zoprl.bench.suite import (
    CSV_COLUMNS,
    PROFILE_FLAGS,
    SUITE_CASES,
    check_targets,
    parse_options,
    run_suite,
)


def _parse(argv):
    parser = argparse.ArgumentParser()
    zoprl.bench.add_arguments(parser)
    return parser.parse_args(argv)


def test_flags_and_defaults():
    sizes, names, out = parse_options(_parse(["--quick"]))
    assert out == os.path.join("benchmarks", "results")
    assert sizes.repeats == 5 and names == [
        "gridworld_zpg",
        "gridworld_zpg_cores",
        "cartpole_zpg",
        "cartpole_rollout",
        "sweep",
    ]
    sizes, _, _ = parse_options(_parse(["--gpu"]))
    assert sizes == GPU and max(sizes.gridworld_pairs) == 2**20
    assert max(sizes.cartpole_pairs) == 2**16
    assert parse_options(_parse(["--tiny"]))[0] == TINY
    sizes, names, _ = parse_options(_parse(["--repeats", "3", "--cases", "sweep,gridworld_zpg"]))
    assert sizes.repeats == 3 and names == ["sweep", "gridworld_zpg"]
    # the flags name the cases and profiles without importing them
    assert SUITE_CASES == tuple(CASES) and {*PROFILE_FLAGS, "full"} == set(PROFILES)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--repeats", "0"], "--repeats must be a positive integer, got 0"),
        (["--repeats", "many"], "--repeats must be a positive integer, got 'many'"),
        (["--cases", "gridworld,nope"], "unknown case 'gridworld'"),
        (["--out", ""], "--out must name a folder"),
    ],
)
def test_bad_flags_raise_one_line_value_errors(argv, match):
    with pytest.raises(ValueError, match=match) as err:
        zoprl.bench.run(_parse(argv))
    assert "\n" not in str(err.value)


def test_out_must_not_be_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        zoprl.bench.run(_parse(["--out", str(path)]))


def _check_outputs(out, payload, cases):
    with open(os.path.join(out, "bench.json")) as f:
        data = json.load(f)
    assert data["device_line"] and data["sizes"]["repeats"] == 1 and data["cases"] == cases
    assert data["complete"]
    assert {r["case"] for r in data["rows"]} == set(cases)
    assert all(r["median_s"] > 0 and r["env_steps_per_s"] > 0 for r in data["rows"])
    with open(os.path.join(out, "bench.csv")) as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == CSV_COLUMNS and len(table) == len(data["rows"]) == len(payload["rows"])
    with open(os.path.join(out, "bench_scaling.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return {(r["case"], r["impl"]): r for r in data["rows"]}, data


def test_tiny_suite_writes_table_json_csv_and_plot(tmp_path, capsys):
    out = str(tmp_path / "results")
    cases = ["gridworld_zpg", "cartpole_rollout"]
    payload = run_suite(TINY, cases, out)
    printed = capsys.readouterr().out
    for header in (
        "zoprl/NumPy",
        "zoprl/evosax",
        "zoprl rollout/raw gymnax",
        "env steps/s",
        "pairs/s",
        "queries/s",
        "compile s",
    ):
        assert header in printed
    rows, data = _check_outputs(out, payload, cases)
    assert set(rows) == {
        ("gridworld_zpg", "zoprl"),
        ("gridworld_zpg", "numpy"),
        ("cartpole_rollout", "zoprl"),
        ("cartpole_rollout", "gymnax"),
    }
    grid = rows["gridworld_zpg", "zoprl"]
    assert grid["env_steps"] == 2 * 8 * 10 and grid["queries"] == 8 * 10 and grid["pairs"] == 8
    assert grid["compile_s"] > 0 and grid["ratio_numpy"] > 0
    assert rows["cartpole_rollout", "zoprl"]["ratio_gymnax"] > 0
    assert rows["cartpole_rollout", "zoprl"]["env_steps"] == 4 * 5
    assert [t["case"] for t in data["targets"]] == ["cartpole_rollout"]  # N = 8 < 4096


@pytest.mark.slow
def test_tiny_suite_runs_every_case(tmp_path):
    out = str(tmp_path / "results")
    cases = ["cartpole_zpg", "sweep"]
    rows, _ = _check_outputs(out, run_suite(TINY, cases, out), cases)
    assert rows["cartpole_zpg", "zoprl"]["ratio_evosax"] > 0
    assert rows["cartpole_zpg", "evosax"]["env_steps"] == 2 * 2 * 5
    sweep = rows["sweep", "zoprl"]
    assert sweep["ratio_numpy"] > 0 and sweep["env_steps"] == 2 * 1 * 2 * 2 * 4 * 10


def test_target_check():
    rows = [
        dict(case="gridworld_zpg", batch=1024, ratio_numpy=0.5),
        dict(case="gridworld_zpg", batch=4096, ratio_numpy=6.0),
        dict(case="gridworld_zpg", batch=16384, ratio_numpy=5.5),
        dict(case="cartpole_rollout", batch=4, ratio_gymnax=0.8),
    ]
    (grid, roll) = check_targets(rows)
    assert grid["worst"] == 5.5 and grid["met"]  # N < 4096 does not count
    assert roll["worst"] == 0.8 and not roll["met"]


def test_scaling_limits_and_batches():
    limits = scaling_limits(_parse(["--scaling"]), TINY._replace(repeats=9), list(CASES))
    assert limits.cases == ("gridworld_zpg", "cartpole_zpg") and limits.max_pairs is None
    assert limits.repeats == 5 and (limits.smallest, limits.probe, limits.factor) == (1024, 4096, 2)
    assert batches(2**13, limits) == [1024, 2048, 4096, 8192]
    argv = ["--scaling", "--factor", "4", "--max-pairs", "70000", "--cases", "cartpole_zpg"]
    limits = scaling_limits(_parse(argv), GPU, ["cartpole_zpg"])
    assert limits.cases == ("cartpole_zpg",) and batches(2**26, limits) == [
        1024,
        4096,
        16384,
        65536,
    ]
    assert batches(512, limits) == [1024]  # the smallest batch is always measured
    tiny = scaling_limits(_parse(["--scaling", "--tiny"]), TINY, list(CASES))
    assert (tiny.smallest, tiny.probe, tiny.plan_cap, tiny.max_pairs) == (8, 32, 32, 8)
    for argv, match in [
        (["--factor", "1"], "--factor must be a number above 1"),
        (["--max-seconds", "0"], "--max-seconds must be a number above 0"),
        (["--max-pairs", "x"], "--max-pairs must be a number above 0"),
        (["--cases", "sweep"], "--scaling measures gridworld_zpg and cartpole_zpg, not 'sweep'"),
    ]:
        with pytest.raises(ValueError, match=match):
            zoprl.bench.run(_parse(["--scaling", *argv]))


def test_the_scaling_figure_has_a_line_per_device_kind(tmp_path):
    for kind, rate in (("cpu", 1e7), ("NVIDIA H200", 1e9)):
        rows = [
            dict(case=case, batch=n, env_steps_per_s=rate * n / 1024)
            for case in ("gridworld_zpg", "cartpole_zpg")
            for n in (1024, 4096)
        ]
        payload = dict(
            device=dict(device_kind=kind),
            date="2026-11-29T00:00:00+00:00",
            plans={"gridworld_zpg": {"largest_fitting": 8192}},
            horizons={"cartpole_zpg": 200},
            rows=rows,
        )
        (tmp_path / f"scaling-{kind}.json").write_text(json.dumps(payload))
    path = scaling_figure(str(tmp_path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert scaling_figure(str(tmp_path / "empty")) is None
    assert Limits._fields[:2] == ("cases", "max_pairs")
