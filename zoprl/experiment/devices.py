"""Devices, memory and checkpoints of the sweep engine.

``runs_mesh``: the 1-D mesh the runs axis is sharded on (axis type Auto: Explicit axes break the
environments' table lookups). ``memory_budget`` / ``program_bytes`` / ``is_out_of_memory``: how
the engine sizes its batches. ``save_carry`` / ``load_carry``: the run state between chunks, as
plain arrays (PRNG keys as their raw data), written atomically.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType

from zoprl.storage import load_arrays, save_arrays_atomically

AXIS = "runs"


def runs_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh over all local devices; axis type Auto (Explicit axes break table lookups)."""
    devices = jax.local_devices() if devices is None else devices
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def memory_budget(devices) -> float:
    """Bytes one device may use for a batch: 80% of an accelerator's memory limit; on CPU half
    the physical memory shared by the (simulated) devices."""
    stats = devices[0].memory_stats() if hasattr(devices[0], "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return 0.8 * stats["bytes_limit"]
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 0.5 * physical / len(devices)


def program_bytes(compiled) -> float:
    """Bytes a compiled program needs on its device (temporaries, arguments, outputs)."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return 0.0
    return float(
        analysis.temp_size_in_bytes
        + analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        - getattr(analysis, "alias_size_in_bytes", 0)
    )


def is_out_of_memory(err: Exception) -> bool:
    """Whether ``err`` is XLA reporting that the device ran out of memory."""
    text = str(err)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def save_carry(path: str, carry) -> None:
    """The carry's leaves (PRNG keys as their raw data), atomically."""
    leaves = jax.tree.leaves(carry)
    arrays = {
        f"leaf_{i:04d}": np.asarray(jax.random.key_data(x) if _is_key(x) else x)
        for i, x in enumerate(leaves)
    }
    save_arrays_atomically(path, arrays)


def load_carry(path: str, template):
    """A carry saved by ``save_carry``, on the devices, shaped and sharded like ``template``
    (ShapeDtypeStructs with their shardings). ValueError naming the file when it is corrupt or
    belongs to another run state."""
    return restore_carry(load_arrays(path), template, path)


def restore_carry(data: dict, template, path: str):
    """The carry of ``save_carry``'s arrays ``data`` (read from ``path``), laid out like
    ``template``: each process places only its own shards. ValueError naming ``path`` when the
    arrays belong to another run state."""
    from zoprl.hosts import global_array

    leaves, treedef = jax.tree.flatten(template)
    mismatch = ValueError(f"checkpoint {path} does not match the run state; rerun with --fresh")
    if len(data) != len(leaves):
        raise mismatch
    restored = []
    for i, like in enumerate(leaves):
        raw = data.get(f"leaf_{i:04d}")
        if raw is None:
            raise mismatch
        key = _is_key(like)
        value = raw if key else raw.astype(like.dtype)
        if (value.shape[:-1] if key else value.shape) != like.shape:
            raise mismatch
        placed = global_array(value, like.sharding)  # key data: the same sharding, one axis more
        restored.append(jax.random.wrap_key_data(placed) if key else placed)
    return jax.tree.unflatten(treedef, restored)
