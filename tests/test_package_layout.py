"""The repository's data folder ``results/`` must never shadow a zoprl module: a script run from
the checkout's parent folder imports ``zoprl`` from the checkout and every subpackage with it."""

import os
import pkgutil
import subprocess
import sys

import zoprl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_subpackage_is_named_like_a_top_level_data_folder():
    folders = {name for name in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, name))}
    modules = {m.name for m in pkgutil.iter_modules(zoprl.__path__)}
    assert not folders & modules, folders & modules


def test_storage_imports_from_the_checkouts_parent_folder():
    script = "import zoprl.storage, zoprl.plots; print(zoprl.storage.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=os.path.dirname(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
