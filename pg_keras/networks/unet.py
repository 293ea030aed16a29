"""The U-Net of the paper's Poisson and heat experiments (B.3; Ronneberger et al. 2015)."""

from __future__ import annotations

import math

import keras

from pg_keras.networks._bilinear_upsampling import BilinearUpsampling2D
from pg_keras.networks._compute_dtype import resolve_network_dtype
from pg_keras.networks._fused_batch_norm import FusedBatchNormalization
from pg_keras.networks._skip_conv import SkipConv2D
from pg_keras.specs import NETWORK_DTYPES, NETWORK_INITS, NETWORK_OUTPUT_INITS, check_choice

__all__ = ["unet", "unet_from_spec"]


def _initializers(init: str, fan_in: int) -> dict:
    """Keras `kernel_initializer` / `bias_initializer` arguments for `init`."""
    if init == "zeros":
        return {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
    if init == "glorot":
        return {}
    bound = 1.0 / math.sqrt(fan_in)
    # One instance each: a Keras initializer draws the same values on every call.
    return {
        "kernel_initializer": keras.initializers.RandomUniform(-bound, bound),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }


def _conv_block(h, filters: int, name: str, init: str, bn_epsilon: float, dtype, skip=None):
    """Two (3×3 conv, batch norm, ReLU) blocks, the paper's unit after every resampling.

    With `skip`, the first conv reads `concat([h, skip])`, computed as `SkipConv2D`.
    """
    for i in range(2):
        channels = int(h.shape[-1]) + (int(skip.shape[-1]) if skip is not None else 0)
        options = {"name": f"{name}_conv{i}", "dtype": dtype, **_initializers(init, 9 * channels)}
        if skip is not None:
            h = SkipConv2D(filters, 3, **options)([h, skip])
            skip = None
        else:
            h = keras.layers.Conv2D(filters, 3, padding="same", **options)(h)
        h = FusedBatchNormalization(epsilon=bn_epsilon, name=f"{name}_bn{i}", dtype=dtype)(h)
        h = keras.layers.ReLU(name=f"{name}_relu{i}", dtype=dtype)(h)
    return h


def unet(
    grid: tuple[int, int],
    levels: int = 4,
    filters: int = 16,
    name: str = "unet",
    in_channels: int | None = None,
    out_channels: int | None = None,
    init: str = "fan-in-uniform",
    output_init: str = "zeros",
    bn_epsilon: float = 1e-5,
    compute_dtype: str = "float32",
) -> keras.Model:
    """A U-Net mapping one field `[batch, ny, nx]` to one field `[batch, ny, nx]`.

    With `in_channels` / `out_channels` set, the input / output carries that
    many maps on a last axis, `[batch, ny, nx, c]` (the fluid net of B.5: 2 in,
    2 out, 5 levels, 16 maps: 49,570 trainable parameters, the paper's count).

    `levels` resolution levels: two conv blocks at full resolution, then per
    coarser level a 2×2 max-pool and two blocks; back up, per level a bilinear
    2× upsampling, concatenation with the skip connection of that level (fused
    into the next conv, `SkipConv2D`) and two blocks; a final 1×1 conv to one
    map. Every conv has `filters` maps. At 4 levels and 16 maps it has 37,697
    trainable parameters, the paper's count (38,145 with batch norm's moving
    statistics).

    Initialisation and batch norm follow the authors' PyTorch networks
    (`NETWORK_INITS`, batch norm ε 1e-5), except the output layer, which starts
    at zero (`NETWORK_OUTPUT_INITS`): on the heat problem that lowered the error after
    300 steps by a fifth for the PG and a quarter for backprop
    (docs/poisson_heat.md, "Heat against the authors' stack").

    Args:
        grid: `(ny, nx)`, each divisible by `2**(levels − 1)`.
        init: `NETWORK_INITS`, how the hidden convolutions start.
        output_init: `NETWORK_OUTPUT_INITS`, how the final 1×1 convolution starts.
        bn_epsilon: batch norm's variance ε.
        compute_dtype: `NETWORK_DTYPES` ("auto": bfloat16 where the hardware computes
            it natively); the output is float32 either way.
    """
    check_choice("init", init, NETWORK_INITS)
    check_choice("output_init", output_init, NETWORK_OUTPUT_INITS)
    check_choice("compute_dtype", compute_dtype, NETWORK_DTYPES)
    compute_dtype = resolve_network_dtype(compute_dtype)
    dtype = "mixed_bfloat16" if compute_dtype == "bfloat16" else "float32"
    for label, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels is not None and channels < 1:
            raise ValueError(f"Expected `{label}` >= 1 or None. Received: {label}={channels}")
    if levels < 1:
        raise ValueError(f"Expected `levels` >= 1. Received: levels={levels}")
    factor = 2 ** (levels - 1)
    if len(grid) != 2 or any(n % factor for n in grid):
        raise ValueError(
            f"Expected a grid (ny, nx) divisible by 2**(levels - 1) = {factor}. "
            f"Received: grid={tuple(grid)}, levels={levels}"
        )
    if in_channels is None:
        inputs = keras.Input(shape=tuple(grid), name="observation")
        h = keras.layers.Reshape((*grid, 1), name="to_channels", dtype=dtype)(inputs)
    else:
        inputs = keras.Input(shape=(*grid, in_channels), name="observation")
        h = inputs
    skips = []
    block = {"init": init, "bn_epsilon": bn_epsilon, "dtype": dtype}
    h = _conv_block(h, filters, "down0", **block)
    for level in range(1, levels):
        skips.append(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{level}", dtype=dtype)(h)
        h = _conv_block(h, filters, f"down{level}", **block)
    for level in range(levels - 1, 0, -1):
        h = BilinearUpsampling2D(name=f"up{level}", dtype=dtype)(h)
        h = _conv_block(h, filters, f"upblock{level}", **block, skip=skips[level - 1])
    output = _initializers(output_init, filters)
    if out_channels is None:
        h = keras.layers.Conv2D(1, 1, name="x_map", dtype="float32", **output)(h)
        outputs = keras.layers.Reshape(tuple(grid), name="x", dtype="float32")(h)
    else:
        outputs = keras.layers.Conv2D(out_channels, 1, name="x", dtype="float32", **output)(h)
    return keras.Model(inputs, outputs, name=name)


def unet_from_spec(spec, name: str) -> keras.Model:
    """The one-field U-Net a problem's spec describes: its grid `ny × nx` and its
    `pg_keras.specs.UNetSpec` fields."""
    return unet(
        (spec.ny, spec.nx),
        spec.levels,
        spec.filters,
        name,
        init=spec.network_init,
        output_init=spec.network_output_init,
        bn_epsilon=spec.bn_epsilon,
        compute_dtype=spec.network_dtype,
    )
