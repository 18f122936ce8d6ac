"""The manifest written beside every results table: what produced it, where, and how long it took.

Fields: zoprl version and git commit (when run from a git checkout), versions of python, jax,
jaxlib, flax, optax, gymnax, evosax and numpy, the device kind and count, every process with its
host and devices, the spec, and per cell its runs, batches, chunks, compile and wall times and
compilation counts; ``provenance`` (when, by which command line, from which commit, whether the
checkout had uncommitted changes) of the command that wrote the manifest, and ``invocations``:
the provenance and wall time of every command that computed some of the results (a rerun that
computed nothing adds none).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shlex
import socket
import subprocess
import sys

PACKAGES = (
    "zoprl",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "gymnax",
    "evosax",
    "numpy",
    "pandas",
    "pyarrow",
)


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    """The output of ``git args`` in the checkout zoprl is imported from (None outside one)."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        result = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_commit() -> str | None:
    """HEAD of the git checkout zoprl is imported from (None outside a checkout)."""
    return _git("rev-parse", "HEAD")


def git_uncommitted_changes() -> bool | None:
    """Whether tracked files of that checkout differ from HEAD (None outside a checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def command_line() -> str:
    """This process's command line (``zoprl ...`` for the command-line tool)."""
    argv = list(sys.argv) or ["python"]
    if argv[0].endswith(("zoprl", os.path.join("zoprl", "cli.py"))):
        argv[0] = "zoprl"
    return shlex.join(argv)


def provenance() -> dict:
    """When (UTC), by which command line, in which folder, from which git commit, and whether
    that checkout had uncommitted changes."""
    return {
        "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "cwd": os.getcwd(),
        "git_commit": git_commit(),
        "git_uncommitted_changes": git_uncommitted_changes(),
    }


def device_info(devices=None, hosts: list[str] | None = None) -> dict:
    """Platform, kind and count of ``devices`` (default: all of jax's devices, of every
    process), the processor architecture and core count of this host, and ``processes``: per
    process its index, host name (``hosts[index]``, default this host's) and device ids."""
    import jax

    devices = jax.devices() if devices is None else devices
    indices = sorted({d.process_index for d in devices})
    names = hosts or [socket.gethostname()] * (max(indices) + 1)
    return {
        "platform": devices[0].platform,
        "kind": devices[0].device_kind,
        "count": len(devices),
        "host": platform.machine(),
        "cpus": os.cpu_count(),
        "processes": [
            {
                "process": p,
                "host": names[p],
                "devices": [d.id for d in devices if d.process_index == p],
            }
            for p in indices
        ],
    }


def build_manifest(
    spec_dict: dict,
    cells: list,
    wall_seconds: float,
    devices=None,
    invocations: list | None = None,
    diverged: list | None = None,
    hosts: list[str] | None = None,
) -> dict:
    """The manifest (module doc). ``wall_seconds``: summed over ``invocations`` when given;
    ``diverged``: the runs with non-finite metrics (``zoprl.storage.divergence``); ``hosts``:
    the host name of each process (``device_info``)."""
    here = provenance()
    return {
        "zoprl_version": package_versions()["zoprl"],
        "git_commit": here["git_commit"],
        "provenance": here,
        "versions": package_versions(),
        "device": device_info(devices, hosts),
        "spec": spec_dict,
        "cells": cells,
        "wall_seconds": wall_seconds,
        "invocations": invocations or [],
        "diverged": diverged or [],
    }
