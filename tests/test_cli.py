"""The zoprl command: run / plot / list end to end, --help everywhere, bad input exits 2."""

import os
import subprocess
import sys

import pytest

from zoprl.cli import build_parser, main
from zoprl.storage import read_table

TINY_RUN = [
    "run",
    "--algorithm",
    "zpg",
    "--env",
    "GridWorld",
    "--queries",
    "3",
    "--seeds",
    "2",
    "--iterations",
    "4",
    "--eval-every",
    "2",
    "--set",
    "static.num_pairs=4",
    "--set",
    "environment.size=3",
    "--set",
    "grid.mu=[0.5, 1.0]",
    "--quiet",
]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert main([*TINY_RUN, "--out", str(folder)]) == 0
    return folder


def test_run_writes_the_table_the_manifest_and_a_figure(run_folder, capsys):
    table = read_table(str(run_folder))
    assert set(table["hp.mu"]) == {0.5, 1.0} and table.run_id.nunique() == 4
    for name in (
        "results.parquet",
        "manifest.json",
        "curves_value_gap_queries-iteration.png",
        "curves_value_gap_queries-iteration.pdf",
    ):
        assert os.path.getsize(run_folder / name) > 0, name
    assert os.stat(run_folder / "results.parquet").st_mode & 0o044  # group/others can read


def test_plot_draws_curves_final_metric_and_rates(run_folder, tmp_path, capsys):
    assert main(["plot", str(run_folder), "--x", "trajectories", "--out", str(tmp_path)]) == 0
    assert (
        main(
            [
                "plot",
                str(run_folder),
                "--metric",
                "value",
                "--param",
                "hp.mu",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "plot",
                str(run_folder),
                "--metric",
                "grad_norm_sq",
                "--rate",
                "hp.mu",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    written = sorted(os.listdir(tmp_path))
    assert "curves_value_gap_trajectories.png" in written
    assert "final_value_hp.mu.png" in written and "rate_grad_norm_sq_hp.mu.pdf" in written


def test_list_names_everything_a_spec_can_use(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "GridWorld",
        "CartPole-v1",
        "zpg",
        "dpo_offline",
        "ppo_true_reward",
        "probit",
        "noisy",
        "tabular_softmax",
        "adam",
        "gridworld-comparison",
    ):
        assert name in out, name


@pytest.mark.parametrize("command", ["demo", "run", "sweep", "plot", "list", "bench"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0 and "usage: zoprl " + command in capsys.readouterr().out


def test_only_the_commands_that_compute_start_jax():
    """The compilation cache, a device per core and jax.distributed (under srun or mpirun) are
    started for the commands that compute; not for list, plot, compare or merge (a merge under
    srun is not run by every process); building the parser imports no JAX."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from zoprl.cli import build_parser; build_parser(); "
            "print('jax' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
    parser = build_parser()
    starts = {
        "demo": ["demo"],
        "run": ["run"],
        "sweep": ["sweep", "s.toml"],
        "tune": ["tune", "s.toml"],
        "reproduce": ["reproduce", "all"],
        "bench": ["bench"],
        "list": ["list"],
        "plot": ["plot", "r"],
        "compare": ["compare", "r"],
        "merge": ["merge", "a", "--out", "b"],
    }
    started = {k for k, argv in starts.items() if getattr(parser.parse_args(argv), "start", False)}
    assert started == {"demo", "run", "sweep", "tune", "reproduce", "bench"}


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--set", "seeds=0"],
        ["run", "--iterations", "x"],
        ["run"],
        ["run", "--algorithm", "zpg", "--set", "seeds=0"],
        ["fly"],
        ["plot", "no/such/folder"],
        ["sweep", "missing.toml"],
    ],
)
def test_bad_arguments_exit_with_code_2_without_traceback(args, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoprl.cli",
            *args,
            *(["--out", str(tmp_path)] if args[0] in ("demo", "run") else []),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "error" in result.stderr


@pytest.mark.slow
def test_the_demo_writes_a_table_and_a_png_figure(tmp_path, capsys):
    """The README's main job, whole (about 80 s on a 2-core CPU)."""
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ZPG" in out and "PPO" in out
    assert os.path.getsize(tmp_path / "results.parquet") > 0
    assert os.path.getsize(tmp_path / "curves_value_gap_queries-trajectories.png") > 0
