"""The command line as a newcomer meets it (issue 17): one tiny run with a diverging grid point,
then its rerun, its figures and its damaged copies; defaults, help, progress, the summary."""

import argparse
import json
import os
import re
import shutil

import pytest
from cli_testing import ROOT, assert_refused, cli_env, zoprl, zoprl_batch

from zoprl.cli import TIME_CLAIMS, build_parser
from zoprl.storage import read_table

# the second grid point overflows float32: it diverges
RUN = (
    "run --algorithm zpg --name journey --queries 3 --seeds 2 --iterations 4 --eval-every 2 "
    "--set static.num_pairs=4 --set environment.size=3 --set environment.horizon=4 "
    "--set grid.step_size=[0.1,1e38]"
).split()


@pytest.fixture(scope="module")
def journey(tmp_path_factory, cli_cache):
    """(folder, the first run, its manifest, the rerun of the same command, env)."""
    folder = tmp_path_factory.mktemp("journey") / "out"
    env = cli_env(cli_cache)
    first = zoprl(*RUN, "--out", folder, env=env)
    with open(folder / "manifest.json") as f:
        manifest = json.load(f)
    copies = {}
    for name in ("chunk", "spec", "layout"):  # damaged copies, taken before the rerun
        copies[name] = folder.parent / f"copy-{name}"
        shutil.copytree(folder, copies[name])
    for stale in (folder / ".results.parquet.tmp", folder / "chunks" / "cell-000" / ".x.tmp"):
        stale.write_bytes(b"partial")  # what a kill during a final write leaves behind
    rerun = zoprl(*RUN, "--out", folder, env=env)
    return folder, first, manifest, rerun, copies, env


def test_a_diverging_run_is_warned_about_marked_in_the_table_and_exits_1(journey):
    folder, first, manifest, *_ = journey
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    assert "warning: 2 of 4 runs diverged" in first.stderr
    assert "step_size=1e38): seeds 0, 1, from iteration 2" in first.stderr
    table = read_table(str(folder))
    bad = table[table["hp.step_size"] > 1]
    assert bad["diverged"].all() and not table[table["hp.step_size"] < 1]["diverged"].any()
    assert {d["run_id"] for d in manifest["diverged"]} == set(bad["run_id"])
    assert os.path.getsize(folder / "curves_value_gap_queries-iteration.png") > 0


def test_progress_shows_compiling_and_a_summary_ends_the_command(journey):
    _, first, *_ = journey
    assert re.search(r"compiling zpg \(4 runs\): done in \d+\.\d s", first.stderr)
    assert "ETA 0:00:00" not in first.stderr and "0/0 chunks" not in first.stderr
    out = first.stdout
    assert "J / J* (final)" in out and "zpg (step_size=0.1)" in out
    assert "zpg (step_size=1e38)" in out and "all 2 diverged" in out
    assert "+- is one standard error" in out and "95% intervals over seeds" in out


def test_the_manifest_records_provenance(journey):
    _, _, manifest, *_ = journey
    here = manifest["provenance"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", here["utc"])
    assert here["command"].startswith("zoprl run --algorithm zpg --name journey")
    assert "git_uncommitted_changes" in here and "git_commit" in here
    assert manifest["invocations"][0]["command"] == here["command"]


def test_a_rerun_keeps_the_timings_and_removes_stale_temporaries(journey):
    folder, first, manifest, rerun, *_ = journey
    assert rerun.returncode == 1  # the same diverged runs
    with open(folder / "manifest.json") as f:
        again = json.load(f)
    assert again["cells"][0]["chunks_computed"] == 0
    assert again["wall_seconds"] == manifest["wall_seconds"]
    assert again["cells"][0]["compile_seconds"] == manifest["cells"][0]["compile_seconds"]
    assert again["cells"][0]["chunk_seconds"] == manifest["cells"][0]["chunk_seconds"]
    assert len(again["invocations"]) == 1
    leftovers = [n for _, _, files in os.walk(folder) for n in files if n.endswith(".tmp")]
    assert leftovers == [] and not (folder / ".zoprl.lock").exists()


def test_plot_puts_measured_seconds_on_the_x_axis(journey, tmp_path):
    folder, *_, env = journey
    result = zoprl("plot", folder, "--x", "seconds", "queries", "--out", tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(tmp_path / "curves_value_gap_seconds-queries.png") > 0


def test_damaged_results_folders_are_refused_in_one_line(journey):
    *_, copies, env = journey
    chunk = copies["chunk"] / "chunks" / "cell-000" / "batch-0000" / "chunk-0001.npz"
    chunk.write_bytes(b"not a zip file")
    (copies["spec"] / "spec.json").write_text("{ truncated")
    (copies["layout"] / "chunks" / "cell-000" / "layout.json").write_text("[1, 2")
    results = zoprl_batch([[*RUN, "--out", copies[n], "--quiet"] for n in copies], env=env)
    assert_refused(results[0], str(chunk), "is corrupt", "--fresh")
    assert_refused(results[1], "spec.json", "is corrupt", "--fresh")
    assert_refused(results[2], "layout.json", "is corrupt", "--fresh")


def test_every_algorithm_runs_without_settings(tmp_path, cli_cache):
    """zoprl run --algorithm NAME needs no --set: every algorithm has default sizes."""
    from zoprl.experiment import ALGORITHMS, build_cells, spec_from_dict

    for name in ALGORITHMS:  # all twelve are built and validated, nothing compiled
        assert build_cells(spec_from_dict({"algorithms": [{"name": name}]}))
    args = ["--iterations", "2", "--seeds", "1", "--no-plot", "--quiet", "--out", tmp_path]
    result = zoprl("run", "--algorithm", "zpg", *args, env=cli_env(cli_cache))
    assert result.returncode == 0, result.stderr
    assert read_table(str(tmp_path))["static.num_pairs"].eq(64).all()


def test_memory_budget_from_the_command_line(tmp_path, cli_cache):
    # the program of test_every_algorithm_runs_without_settings: loaded from the cache
    args = ["--iterations", "2", "--seeds", "1", "--no-plot", "--quiet", "--out", tmp_path]
    result = zoprl(
        "run", "--algorithm", "zpg", *args, "--memory-budget", "1K", env=cli_env(cli_cache)
    )
    assert_refused(result, "one run per device needs", "more than the budget of 1.0 KiB")
    assert not (tmp_path / "results.parquet").exists()


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {o}", a) for o, a in _options(sub))
        elif not isinstance(action, argparse._HelpAction):
            yield (action.option_strings or [action.dest])[0], action


def test_every_option_has_help_and_no_markup():
    parser = build_parser()
    missing = [name for name, action in _options(parser) if not action.help]
    assert missing == []
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts += [sub.format_help() for sub in action.choices.values()]
    for text in texts:
        assert "``" not in text and ":func:" not in text and ":class:" not in text
    run_help = next(t for t in texts if t.startswith("usage: zoprl run"))
    assert "results/<name>-<8 hex digits of the spec>" in " ".join(run_help.split())
    assert "Exit codes" in texts[0] and "1 the sweep finished but some runs diverged" in texts[0]


def test_help_and_readme_make_the_same_time_claims():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    parser_help = " ".join(
        " ".join(sub.format_help().split())
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in action.choices.values()
    )
    for command, claim in TIME_CLAIMS.items():
        assert claim in readme, command
        assert claim in parser_help, command


def test_refusals_before_anything_runs(tmp_path, cli_cache):
    """Bad names, impossible sizes, files in the way: one line, exit 2, nothing compiled."""
    spec = tmp_path / "sweep.yaml"
    spec.write_text("name: x\nalgorithms: [{name: zpg}]\n")
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: x\nseeds: 2\nseeds: 3\nalgorithms: [{name: zpg}]\n")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "x"\n\xff\xfe\n')
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    run = ["run", "--algorithm", "zpg", "--quiet", "--no-plot"]
    results = zoprl_batch(
        [
            [*run, "--name", "..", "--out", tmp_path / "o1"],
            [*run, "--name", ".", "--out", tmp_path / "o2"],
            [*run, "--seeds", "1000000000", "--out", tmp_path / "o3"],
            [*run, "--set", "evaluation.eval_episodes=1000000000000", "--out", tmp_path / "o4"],
            [*run, "--iterations", "1000000000000", "--out", tmp_path / "o5"],
            [*run, "--iterations", "100000000", "--chunk-size", "1", "--out", tmp_path / "o6"],
            ["sweep", spec, "--out", a_file],
            ["sweep", dup],
            ["sweep", binary],
        ],
        env=cli_env(cli_cache),
    )
    assert_refused(results[0], "must be one folder name", "'..'")
    assert_refused(results[1], "must be one folder name", "'.'")
    assert_refused(results[2], "host memory", "1,000,000,000 runs", "--host-memory-budget")
    assert_refused(results[3], "eval_episodes must be below 2^31")
    assert_refused(results[4], "iterations must be below 2^31")
    assert_refused(results[5], "chunk files per batch", "chunk_size >=")
    assert_refused(results[6], str(a_file), "is a file, not a folder")
    assert_refused(results[7], "duplicate key 'seeds' (line 3)")
    assert_refused(results[8], "not a UTF-8 text file")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))


def test_parameter_values_print_in_short_scientific_notation():
    from zoprl.summary import short_number

    assert [short_number(v) for v in (1e-4, 2.5e6, 0.1, 64, 10**6, 1e38, 3.0)] == [
        "1e-4",
        "2.5e6",
        "0.1",
        "64",
        "1e6",
        "1e38",
        "3",
    ]


def test_the_methods_page_replaces_the_private_notes():
    """docs/methods.md defines what zoprl computes; nothing outside the reproductions (whose
    text is the reproductions' own) cites the private PAPERS.md."""
    with open(os.path.join(ROOT, "docs", "methods.md")) as f:
        methods = f.read()
    for heading in ("The simulated human", "zeroth-order preference methods", "rates zoprl checks"):
        assert heading in methods
    citing = []
    for folder, _, files in os.walk(os.path.join(ROOT, "zoprl")):
        if os.sep + "reproduce" in folder:
            continue
        for name in (f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name)) as f:
                if "PAPERS.md" in f.read():
                    citing.append(name)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = " ".join(f.read().split())
    assert citing == [] and "PAPERS.md" not in readme and "docs/methods.md" in readme
    assert "pairs its lists element by element" in readme and "np.meshgrid" in readme


def test_reproduce_ends_with_the_summary_of_each_table_it_wrote(journey, capsys):
    from zoprl.cli import _report_written

    folder, *_ = journey
    assert _report_written([str(folder / "results.parquet"), str(folder / "x.png")]) == 1
    captured = capsys.readouterr()
    assert f"== {folder}" in captured.out and "+- is one standard error" in captured.out
    assert "runs diverged" in captured.err
