"""The B.3 U-Net: shapes, parameter count, configuration errors."""

import numpy as np
import pytest

from pg_keras.networks import unet


def test_paper_unet_has_the_papers_trainable_parameter_count():
    model = unet((64, 64))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 37_697
    assert model.count_params() == 38_145  # plus batch norm's moving mean and variance


def test_unet_maps_field_to_field_at_any_level_count():
    model = unet((8, 16), levels=2, filters=4)
    out = model(np.zeros([3, 8, 16], np.float32))
    assert tuple(out.shape) == (3, 8, 16)


def test_unet_rejects_grid_not_divisible_by_pooling():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(levels - 1\) = 8.*grid=\(12, 16\)"):
        unet((12, 16), levels=4)
    with pytest.raises(ValueError, match="levels=0"):
        unet((8, 8), levels=0)


def test_fluid_unet_with_channels_has_the_papers_b5_parameter_count():
    model = unet((64, 64), levels=5, in_channels=2, out_channels=2)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 49_570
    out = model(np.zeros([3, 64, 64, 2], np.float32))
    assert tuple(out.shape) == (3, 64, 64, 2)


def test_unet_rejects_nonpositive_channels():
    with pytest.raises(ValueError, match="in_channels=0"):
        unet((8, 8), levels=2, in_channels=0)
