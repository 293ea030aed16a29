"""Network architectures of the paper's experiments."""

from pg_keras.networks.mlp import mlp
from pg_keras.networks.unet import unet, unet_from_spec

__all__ = ["mlp", "unet", "unet_from_spec"]
