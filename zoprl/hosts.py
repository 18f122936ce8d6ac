"""Several processes, on one host or many, running one sweep with JAX's multi-process runtime.

    initialize(coordinator, num_processes, process_id)   # jax.distributed, before any JAX work
    share(fn)             # fn() run by process 0 (the writer); its value, or its error, everywhere
    fetch(tree)           # global arrays -> the same numpy values on every process
    global_array(x, s)    # a host value (the same on every process) -> a jax.Array sharded by s,
                          # each process feeding only its addressable shards
    host_names()          # the host name of every process, in process order

A sweep launched as P processes (``zoprl sweep ... --coordinator HOST:PORT --num-processes P
--process-id I``, or under Slurm's ``srun`` / Open MPI's ``mpirun``, which JAX detects) shards
its runs over the devices of every process: each process compiles the same programs, builds its
own shards of the inputs, and runs them; the metrics and the run state of each chunk are
gathered, and process 0 alone reads and writes the results folder (the lock, the chunk files,
the table and the manifest), so the folder need not be on a shared filesystem. Everything that
reads the folder runs on process 0 and reaches the others through ``share`` (errors included:
a refusal there is the same refusal everywhere, so no process is left waiting). CPU collectives
use gloo (``jax_cpu_collectives_implementation``).

On one process every function here is the plain single-process operation (``share(fn)`` is
``fn()``, ``fetch`` is ``jax.device_get``).

``use_every_core()``: a CPU backend gets one XLA host device per core this process may run on
(``jax_num_cpu_devices``), unless the user set ``XLA_FLAGS`` or ``JAX_NUM_CPU_DEVICES``; the sweep
engine then shards its runs over them, so XLA runs the shards on every core. Measured on the
2-core CPU: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

WRITER = 0  # the process that owns the results folder
NAME_BYTES = 256  # room for a host name in ``host_names``


class PeerError(RuntimeError):
    """Another process of a multi-process run stopped (one line, for the command line)."""


# starting ------------------------------------------------------------------------------------
def cluster_processes() -> int:
    """Processes of a Slurm step or an Open MPI job this process belongs to (1 outside one):
    the launches whose settings ``jax.distributed.initialize()`` detects by itself."""
    env = os.environ
    if all(k in env for k in ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID")):
        return int(env.get("SLURM_NTASKS", "1") or 1)
    if "OMPI_MCA_orte_hnp_uri" in env:
        return int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1)
    return 1


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Start ``jax.distributed`` when this process is one of several: when any of the three
    settings is given (the others detected from the cluster), or inside a Slurm step or Open MPI
    job of several processes. Returns whether it started; ValueError, in one line, when the
    settings are incomplete or JAX's runtime refuses them. Call it before any JAX computation."""
    import jax

    given = (coordinator, num_processes, process_id)
    if all(v is None for v in given) and cluster_processes() <= 1:
        return False
    if jax.distributed.is_initialized():
        return True
    if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
        raise ValueError(
            f"--process-id must be in 0..{num_processes - 1} for --num-processes "
            f"{num_processes}, got {process_id}"
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    except (ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"cannot start the multi-process run ({first}); give --coordinator HOST:PORT, "
            "--num-processes and --process-id, or launch under srun or mpirun"
        ) from None
    return True


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_every_core(cores: int | None = None) -> int | None:
    """One XLA host device per core (module doc); returns the count set, or None when the user's
    ``XLA_FLAGS`` / ``JAX_NUM_CPU_DEVICES`` decide, or JAX's backends already started."""
    import jax

    if "XLA_FLAGS" in os.environ or "JAX_NUM_CPU_DEVICES" in os.environ:
        return None
    cores = usable_cores() if cores is None else cores
    try:
        jax.config.update("jax_num_cpu_devices", cores)
    except RuntimeError:  # backends already started (a second command in one process)
        return None
    return cores


# who does what -------------------------------------------------------------------------------
def process_count() -> int:
    import jax

    return jax.process_count()


def is_writer() -> bool:
    """Whether this process reads and writes the results folder (process 0)."""
    import jax

    return jax.process_index() == WRITER


@contextlib.contextmanager
def _collective():
    """Around a collective: gloo's native lines ("Rank 0 is connected to 1 peer ranks ...",
    printed when a group first meets) kept off this process's stdout, which holds results."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _broadcast_bytes(data: bytes) -> bytes:
    """``data`` of process 0 on every process (the others' argument is ignored)."""
    from jax.experimental import multihost_utils

    with _collective():
        length = multihost_utils.broadcast_one_to_all(np.array([len(data)], np.int64))
        size = int(length[0])
        padded = 1 << max(size - 1, 0).bit_length()  # few distinct shapes: few compilations
        buffer = np.zeros(padded, np.uint8)
        if is_writer():
            buffer[:size] = np.frombuffer(data, np.uint8)
        return multihost_utils.broadcast_one_to_all(buffer)[:size].tobytes()


def _picklable(err: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - any error that does not survive pickling
        return RuntimeError(f"{type(err).__name__}: {err}")


def share(fn: Callable[[], Any]) -> Any:
    """``fn()`` computed by process 0 and returned on every process; when it raises, every
    process raises the same error (process 0 its own, with its traceback). The value must
    pickle (JSON-like values, numpy arrays, pandas frames)."""
    if process_count() == 1:
        return fn()
    failure = None
    if is_writer():
        try:
            payload = pickle.dumps((True, fn()))
        except Exception as err:  # noqa: BLE001 - shared, then raised here too
            failure = err
            payload = pickle.dumps((False, _picklable(err)))
    else:
        payload = b""
    ok, value = pickle.loads(_broadcast_bytes(payload))
    if failure is not None:
        raise failure
    if not ok:
        raise value
    return value


def fetch(tree):
    """The values of ``tree``'s arrays as numpy arrays on every process: a global array's
    shards gathered from all processes (PRNG keys as their raw key data)."""
    import jax

    if process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x):
        if not isinstance(x, jax.Array):
            return np.asarray(x)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    with _collective():
        return jax.tree.map(one, tree)


def global_array(value, sharding):
    """``value`` (a host array or PRNG key array, the same on every process) as a jax.Array
    laid out by ``sharding``; each process copies only the shards its devices hold."""
    import jax

    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        data = np.asarray(jax.random.key_data(value))
        impl = jax.random.key_impl(value)
        return jax.random.wrap_key_data(global_array(data, sharding), impl=impl)
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def host_names() -> list[str]:
    """The host name of every process, in process order."""
    name = socket.gethostname()
    if process_count() == 1:
        return [name]
    from jax.experimental import multihost_utils

    encoded = np.zeros(NAME_BYTES, np.uint8)
    raw = name.encode()[:NAME_BYTES]
    encoded[: len(raw)] = np.frombuffer(raw, np.uint8)
    with _collective():
        gathered = np.asarray(multihost_utils.process_allgather(encoded))
    return [bytes(row).rstrip(b"\0").decode(errors="replace") for row in gathered]


__all__ = [
    "PeerError",
    "WRITER",
    "cluster_processes",
    "fetch",
    "global_array",
    "host_names",
    "initialize",
    "is_writer",
    "process_count",
    "share",
    "use_every_core",
    "usable_cores",
]
