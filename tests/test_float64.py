"""Exact evaluation follows the dtype of its inputs: under jax_enable_x64, float64 policy and
environment params give float64 metrics that agree with the float32 ones to float32 precision,
and float32 inputs stay float32. Run in a subprocess, since x64 is a process-wide switch."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp
    from zoprl.envs import make
    from zoprl.evaluators import exact_policy_evaluator
    from zoprl.policies import tabular_softmax

    def cast(tree, dtype):
        def leaf(x):
            x = jnp.asarray(x)
            return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
        return jax.tree.map(leaf, tree)

    class State:
        def __init__(self, params):
            self.params = params

    out = {}
    for name in ("GridWorld", "RandomMDP", "ContextualBandit"):
        env, env_params = make(name)
        policy = tabular_softmax(env.num_states, env.num_actions)
        evaluator = exact_policy_evaluator(env, policy)
        theta = jax.random.normal(jax.random.key(0), (env.num_states, env.num_actions))
        for dtype in (jnp.float32, jnp.float64):
            params = cast(env_params, dtype)
            optimum = evaluator.init(None, None, params, None)
            metrics = evaluator.metrics(None, State(theta.astype(dtype)), None, params, None,
                                        optimum)
            out[f"{name}/{jnp.dtype(dtype).name}"] = {
                k: [str(v.dtype), float(v)] for k, v in metrics.items()}
    print(json.dumps(out))
""")


def test_exact_evaluator_runs_in_float64_and_agrees_with_float32():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "JAX_ENABLE_X64": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("GridWorld", "RandomMDP", "ContextualBandit"):
        single, double = out[f"{name}/float32"], out[f"{name}/float64"]
        assert (
            set(single)
            == set(double)
            == {"value", "grad_norm_sq", "value_gap", "value_ratio", "gap_closed"}
        )
        for metric, (dtype, value) in double.items():
            assert dtype == "float64", (name, metric)
            assert single[metric][0] == "float32", (name, metric)
            assert abs(value - single[metric][1]) <= 1e-5 * max(1.0, abs(value)), (name, metric)
