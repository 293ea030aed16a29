"""The U-Net of the paper's Poisson and heat experiments (B.3; Ronneberger et al. 2015)."""

from __future__ import annotations

import keras

from pg_keras.networks._fused_batch_norm import FusedBatchNormalization


def _conv_block(h, filters: int, name: str):
    """Two (3×3 conv, batch norm, ReLU) blocks, the paper's unit after every resampling."""
    for i in range(2):
        h = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{i}")(h)
        h = FusedBatchNormalization(name=f"{name}_bn{i}")(h)
        h = keras.layers.ReLU(name=f"{name}_relu{i}")(h)
    return h


def unet(
    grid: tuple[int, int],
    levels: int = 4,
    filters: int = 16,
    name: str = "unet",
    in_channels: int | None = None,
    out_channels: int | None = None,
) -> keras.Model:
    """A U-Net mapping one field `[batch, ny, nx]` to one field `[batch, ny, nx]`.

    With `in_channels` / `out_channels` set, the input / output carries that
    many maps on a last axis, `[batch, ny, nx, c]` (the fluid net of B.5: 2 in,
    2 out, 5 levels, 16 maps: 49,570 trainable parameters, the paper's count).

    `levels` resolution levels: two conv blocks at full resolution, then per
    coarser level a 2×2 max-pool and two blocks; back up, per level a bilinear
    2× upsampling, concatenation with the skip connection of that level and two
    blocks; a final 1×1 conv to one map. Every conv has `filters` maps. At 4
    levels and 16 maps it has 37,697 trainable parameters, the paper's count
    (38,145 with batch norm's moving statistics).

    Args:
        grid: `(ny, nx)`, each divisible by `2**(levels − 1)`.
    """
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
        h = keras.layers.Reshape((*grid, 1), name="to_channels")(inputs)
    else:
        inputs = keras.Input(shape=(*grid, in_channels), name="observation")
        h = inputs
    skips = []
    h = _conv_block(h, filters, "down0")
    for level in range(1, levels):
        skips.append(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{level}")(h)
        h = _conv_block(h, filters, f"down{level}")
    for level in range(levels - 1, 0, -1):
        h = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}")(h)
        h = keras.layers.Concatenate(name=f"skip{level}")([h, skips[level - 1]])
        h = _conv_block(h, filters, f"upblock{level}")
    if out_channels is None:
        h = keras.layers.Conv2D(1, 1, name="x_map")(h)
        outputs = keras.layers.Reshape(tuple(grid), name="x")(h)
    else:
        outputs = keras.layers.Conv2D(out_channels, 1, name="x")(h)
    return keras.Model(inputs, outputs, name=name)
