"""Python-side input checks, run before anything is traced or compiled.

Each check raises ``ValueError`` naming the argument and the offending value. Array checks are
skipped for tracers: inside ``jit``/``vmap`` the value was already checked where it entered.
"""

from __future__ import annotations

import difflib

import jax.numpy as jnp
import numpy as np
from jax import core


def is_concrete(x) -> bool:
    """True when ``x`` holds values Python can read (not a tracer of a transformation)."""
    if isinstance(x, core.Tracer):
        return False
    try:
        np.asarray(x)
    except Exception:  # noqa: BLE001 - anything numpy cannot read is treated as abstract
        return False
    return True


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """'v at index i (and k more)' for the first True entry of ``bad``."""
    idx = np.argwhere(bad)
    first = tuple(int(i) for i in idx[0])
    where = f" at index {first}" if arr.ndim else ""
    more = f" (and {len(idx) - 1} more)" if len(idx) > 1 else ""
    return f"{float(arr[first] if arr.ndim else arr):.6g}{where}{more}"


def check_int(name: str, value, minimum: int = 1) -> int:
    """A Python/numpy integer (not a bool) >= ``minimum``; returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_in_range(
    name: str, value, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    """Every entry of ``value`` lies in the interval from ``low`` to ``high`` (NaN always fails)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    above = (arr > low) if low_open else (arr >= low)
    below = (arr < high) if high_open else (arr <= high)
    bad = ~(above & below)
    if np.any(bad):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {_first_bad(arr, bad)}")


def check_probability(name: str, value) -> None:
    """Every entry is a probability in [0, 1]."""
    check_in_range(name, value, 0.0, 1.0)


def _check_bound(name: str, value, strict: bool) -> None:
    if not is_concrete(value):
        return
    arr = np.asarray(value, dtype=np.float64)
    bad = ~(np.isfinite(arr) & ((arr > 0) if strict else (arr >= 0)))
    if np.any(bad):
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {_first_bad(arr, bad)}")


def check_positive(name: str, value) -> None:
    """Every entry finite and > 0."""
    _check_bound(name, value, strict=True)


def check_nonnegative(name: str, value) -> None:
    """Every entry finite and >= 0."""
    _check_bound(name, value, strict=False)


def check_choice(kind: str, name, valid) -> None:
    """``name`` is one of ``valid``; the message suggests the nearest and lists the valid names."""
    if not isinstance(name, str) or name not in valid:
        match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ValueError(f"unknown {kind} {name!r}{hint}; valid names: {', '.join(sorted(valid))}")


def check_distribution(name: str, table, axis: int = -1, atol: float = 1e-5) -> None:
    """Entries in [0, 1] that sum to 1 along ``axis``."""
    if not is_concrete(table):
        return
    check_in_range(name, table, -atol, 1.0 + atol)
    sums = np.atleast_1d(np.asarray(table, dtype=np.float64).sum(axis=axis))
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums.flat[worst] - 1.0) > atol:
        row = np.unravel_index(worst, sums.shape)
        raise ValueError(
            f"{name} must sum to 1 along axis {axis}; entry {tuple(int(i) for i in row)}"
            f" sums to {sums.flat[worst]:.6g}"
        )


def check_shape(name: str, value, shape: tuple) -> None:
    got = tuple(np.shape(value))
    if got != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {got}")


def make_hparams(cls, *, positive=None, unit=(), nonnegative=(), prefix: str = "", **values):
    """A hyperparameter NamedTuple ``cls`` of float32 arrays broadcast to one shape (scalars, or
    a grid [G] to vmap over), each field validated in Python before compilation: > 0 (the
    fields in ``positive``; by default every field not in ``unit`` or ``nonnegative``), in
    [0, 1] (``unit``) or >= 0 (``nonnegative``). The ValueError names the field (after
    ``prefix``) and the bad value."""
    if positive is None:
        positive = [f for f in cls._fields if f not in unit and f not in nonnegative]
    # validate the float32 values the program will see (1e-46 > 0 becomes 0 in float32)
    with np.errstate(over="ignore"):  # an overflow to inf is reported by the checks below
        values = {f: np.asarray(values[f], np.float32) for f in cls._fields}
    for name in positive:
        check_positive(prefix + name, values[name])
    for name in unit:
        check_probability(prefix + name, values[name])
    for name in nonnegative:
        check_nonnegative(prefix + name, values[name])
    arrays = np.broadcast_arrays(*(values[f] for f in cls._fields))
    return cls(*(jnp.asarray(a) for a in arrays))


__all__ = [
    "check_choice",
    "check_distribution",
    "check_in_range",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_probability",
    "check_shape",
    "is_concrete",
    "make_hparams",
]
