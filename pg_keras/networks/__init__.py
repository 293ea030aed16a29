"""Network architectures of the paper's experiments."""

from pg_keras.networks.mlp import mlp

__all__ = ["mlp"]
