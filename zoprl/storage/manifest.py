"""The manifest written beside every results table: what produced it, where, and how long it took.

Fields: zoprl version and git commit (when run from a git checkout), versions of python, jax,
jaxlib, flax, optax, gymnax, evosax and numpy, the device kind and count, the spec, and per cell
its runs, batches, chunks, compile and wall times and compilation counts.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

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


def git_commit() -> str | None:
    """HEAD of the git checkout zoprl is imported from (None outside a checkout)."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def device_info(devices=None) -> dict:
    """Platform, kind and count of ``devices`` (default: all of jax's devices)."""
    import jax

    devices = jax.devices() if devices is None else devices
    return {
        "platform": devices[0].platform,
        "kind": devices[0].device_kind,
        "count": len(devices),
        "host": platform.machine(),
        "cpus": os.cpu_count(),
    }


def build_manifest(spec_dict: dict, cells: list, wall_seconds: float, devices=None) -> dict:
    return {
        "zoprl_version": package_versions()["zoprl"],
        "git_commit": git_commit(),
        "versions": package_versions(),
        "device": device_info(devices),
        "spec": spec_dict,
        "cells": cells,
        "wall_seconds": wall_seconds,
    }
