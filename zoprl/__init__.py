"""zoprl: reinforcement learning from human feedback without reward inference, in JAX."""

__version__ = "0.1.0"
