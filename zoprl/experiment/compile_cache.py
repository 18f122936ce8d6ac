"""JAX's persistent compilation cache for zoprl's programs.

A sweep compiles two programs per cell (seconds each on a CPU, most of a short run); JAX can
keep compiled executables on disk, keyed by the program's HLO, the compile options and the
device, so that rerunning a command, or running a program of the same shapes again (the
evaluation sweep of ``zoprl tune`` after its tuning sweep, with equal batches), loads it
instead of compiling it. Measured on the 2-core CPU: a tiny ZPG cell's two compiles, 5.6 s,
load in 0.5-0.9 s.

``enable_compile_cache(path)`` turns it on for this process (the command line does so by
default; ``--no-compile-cache`` or ``ZOPRL_COMPILE_CACHE=off`` leaves it off). The folder is
``path`` (``--compile-cache FOLDER``), else ``$ZOPRL_COMPILE_CACHE``, else
``$XDG_CACHE_HOME/zoprl/jax`` (``~/.cache/...``). ``disable_compile_cache()`` records that this
process runs without it (``--no-compile-cache``), and ``enable_unless_decided()``, which library
entry points such as ``zoprl.reproduce.reproduce`` call, turns it on only when nothing was decided
yet. Measured for ``zoprl demo``, first run against a rerun: benchmarks/RESULTS.md.
Every compile is cached (no minimum compile time); delete the folder to reclaim the space.
"""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "ZOPRL_COMPILE_CACHE"
_DECISION: dict = {}  # {"folder": path or None} once this process chose (module doc)


def default_cache_dir() -> str | None:
    """The cache folder of the module doc (None when the environment turns it off)."""
    chosen = os.environ.get(ENVIRONMENT_VARIABLE)
    if chosen is not None:
        return None if chosen.lower() in ("", "0", "off", "false", "no") else chosen
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zoprl", "jax")


def enable_compile_cache(path: str | None = None) -> str | None:
    """Cache compiled programs in ``path`` (module doc); returns the folder, or None when off.
    Raises ValueError when the folder cannot be created."""
    import jax

    folder = path or default_cache_dir()
    _DECISION["folder"] = folder
    if folder is None:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"cannot create the compilation cache folder {folder!r}: {err.strerror}"
        ) from None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


def disable_compile_cache() -> None:
    """Run this process without the cache (``--no-compile-cache``): ``enable_unless_decided``
    then leaves it off. A cache folder JAX already uses stays in use."""
    _DECISION["folder"] = None


def enable_unless_decided() -> str | None:
    """The cache of ``enable_compile_cache()`` unless this process already chose (enabled or
    disabled it) or JAX already has a cache folder; returns the folder in use, or None."""
    import jax

    if "folder" in _DECISION:
        return _DECISION["folder"]
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    return enable_compile_cache()


__all__ = [
    "ENVIRONMENT_VARIABLE",
    "default_cache_dir",
    "disable_compile_cache",
    "enable_compile_cache",
    "enable_unless_decided",
]
