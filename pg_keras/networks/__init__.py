"""Network architectures of the paper's experiments."""

from pg_keras.networks._compute_dtype import resolve_network_dtype
from pg_keras.networks.mlp import mlp
from pg_keras.networks.unet import unet, unet_from_spec

__all__ = ["mlp", "resolve_network_dtype", "unet", "unet_from_spec"]
