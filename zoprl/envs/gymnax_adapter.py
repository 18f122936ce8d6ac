"""Any gymnax environment as a zoprl trajectory source.

The adapter keeps gymnax's own ``step`` (six outputs, auto-reset) untouched and adds what zoprl's
rollouts need: a static horizon (default: the environment's ``max_steps_in_episode``) and the
fact that the environment is not finite (no exact evaluator). The rollout maps gymnax's
terminated/truncated flags to the validity mask: step h is valid iff no earlier step of the episode
was terminal, so the return of a zoprl rollout equals the episode return of a direct gymnax scan.
"""

from __future__ import annotations

import gymnax

from zoprl.validation import check_int


class GymnaxEnv:
    """Wraps a gymnax environment; ``reset``/``step`` are the wrapped environment's own."""

    is_finite = False

    def __init__(self, env, env_params=None, horizon: int | None = None):
        if isinstance(env, str):
            if env not in gymnax.registered_envs:
                raise ValueError(
                    f"unknown gymnax environment {env!r}; valid: "
                    f"{', '.join(gymnax.registered_envs)}"
                )
            env, default = gymnax.make(env)
            env_params = default if env_params is None else env_params
        self.env = env
        self._default_params = env.default_params if env_params is None else env_params
        if horizon is None:
            horizon = int(self._default_params.max_steps_in_episode)
        self.horizon = check_int("horizon", horizon)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def default_params(self):
        return self._default_params

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def reset(self, key, params=None):
        return self.env.reset(key, self._default_params if params is None else params)

    def step(self, key, state, action, params=None):
        return self.env.step(key, state, action, self._default_params if params is None else params)

    def observation_space(self, params=None):
        return self.env.observation_space(self._default_params if params is None else params)

    def action_space(self, params=None):
        return self.env.action_space(self._default_params if params is None else params)
