"""Do several XLA host devices run faster than one on a CPU? (issue 16)

One program: an elementwise ``lax.scan`` of 200 steps over a row of 2 x 10^6 float32, vmapped
over rows and jitted. Timed (3 calls after a warm-up, wall and process CPU seconds per call):
one row on the first device, then one row per device sharded over all local devices (a 1-D
mesh, as the sweep engine shards runs). CPU seconds about twice the wall seconds on one row
mean that XLA:CPU already spreads one program over two cores.

Usage (one measurement per device count):
  XLA_FLAGS=--xla_force_host_platform_device_count=1 python benchmarks/bench_cpu_devices.py
  XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/bench_cpu_devices.py
"""

from __future__ import annotations

import resource
import time

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

WIDTH, STEPS, CALLS = 2_000_000, 200, 3


def program(row):
    def body(carry, _):
        return jnp.sin(carry) * 1.0001 + 0.1, None

    return jax.lax.scan(body, row, None, length=STEPS)[0]


def timed(fn, x) -> tuple[float, float]:
    """(wall, process CPU) seconds per call, after a warm-up call."""
    fn(x).block_until_ready()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(CALLS):
        fn(x).block_until_ready()
    wall = (time.perf_counter() - start) / CALLS
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / CALLS
    return wall, cpu


def main() -> None:
    devices = len(jax.devices())
    fn = jax.jit(jax.vmap(program))
    mesh = jax.make_mesh((devices,), ("runs",), axis_types=(jax.sharding.AxisType.Auto,))
    one = jnp.ones((1, WIDTH), jnp.float32)
    every = jax.device_put(jnp.ones((devices, WIDTH), jnp.float32), NamedSharding(mesh, P("runs")))
    for rows, x in ((1, one), (devices, every)) if devices > 1 else ((1, one),):
        wall, cpu = timed(fn, x)
        print(f"{devices} device(s), {rows} row(s): wall {wall:.3f} s, CPU {cpu:.3f} s per call")


if __name__ == "__main__":
    main()
