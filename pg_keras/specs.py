"""Problem specs by concern: physics precision, network shape; a problem's spec combines them.

A problem's spec is one frozen dataclass whose fields stay flat (so `--spec KEY=VALUE`,
the run's `problem.json` and exported assets name them as before), built by inheriting
the concerns it has: e.g. `HeatSpec(HeatPhysics, BoxData, UNetSpec)`. Each concern
checks its own fields in `__post_init__` and then calls its parents', so a check is
written once however many problems share the concern.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

__all__ = [
    "NETWORK_DTYPES",
    "NETWORK_INITS",
    "NETWORK_OUTPUT_INITS",
    "PHYSICS_DTYPES",
    "PhysicsPrecision",
    "Spec",
    "UNetSpec",
    "check_at_least",
    "check_choice",
    "check_physics_dtype",
    "check_positive",
]

PHYSICS_DTYPES = ("float32", "float64")
#: How the U-Net's hidden convolutions start: "fan-in-uniform" draws kernels and biases
#: from U(±1/√fan_in), PyTorch's default for `Conv2d` and so the authors'; "glorot" is
#: Keras's default (glorot-uniform kernels, zero biases).
NETWORK_INITS = ("fan-in-uniform", "glorot")
#: How its final 1×1 convolution starts: "zeros" makes the first prediction constant
#: (heat's mean shift then predicts mean(y*)); or as the hidden ones.
NETWORK_OUTPUT_INITS = ("zeros", *NETWORK_INITS)
#: "bfloat16" runs every layer but the output in bfloat16 with float32 weights
#: (Keras's "mixed_bfloat16"); the output layer stays float32. "auto" is bfloat16 where
#: the hardware computes it natively, float32 elsewhere (`pg_keras.networks.unet`).
NETWORK_DTYPES = ("auto", "float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Spec:
    """The root of every spec: a concern's `__post_init__` checks its fields, then calls
    `super().__post_init__()`, which ends here."""

    def __post_init__(self) -> None:
        pass


def check_positive(spec: object, *names: str) -> None:
    """A ValueError naming the first of the fields `names` of `spec` that is not > 0."""
    for name in names:
        value = getattr(spec, name)
        if not value > 0:
            raise ValueError(f"Expected `{name}` > 0. Received: {name}={value!r}")


def check_at_least(spec: object, least: int, *names: str) -> None:
    """A ValueError naming the first of the whole-number fields `names` below `least`."""
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, int) or value < least:
            raise ValueError(f"Expected `{name}` >= {least}. Received: {name}={value!r}")


def check_choice(name: str, value: object, allowed: tuple) -> None:
    """A ValueError naming `name` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"Expected `{name}` in {allowed}. Received: {name}={value!r}")


def check_physics_dtype(value: str, allowed: tuple[str, ...] = PHYSICS_DTYPES, why: str = ""):
    """`value` if it is one of `allowed`, else a ValueError saying what and (`why`) why."""
    if value in allowed:
        return value
    expected = " or ".join(repr(dtype) for dtype in allowed)
    reason = f" ({why})" if why else ""
    raise ValueError(
        f"Expected physics_dtype {expected}{reason}. Received: physics_dtype={value!r}"
    )


@dataclasses.dataclass(frozen=True)
class PhysicsPrecision(Spec):
    """The dtype the physics runs in (the network stays float32).

    A problem whose physics needs one dtype narrows `physics_dtypes` and says why in
    `physics_dtype_reason`, e.g. heat: float64 only, since its inverse amplifies modes
    by up to e^88.
    """

    physics_dtype: str = "float32"
    physics_dtypes: ClassVar[tuple[str, ...]] = PHYSICS_DTYPES
    physics_dtype_reason: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_physics_dtype(self.physics_dtype, self.physics_dtypes, self.physics_dtype_reason)
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class UNetSpec(Spec):
    """The B.3 U-Net (`pg_keras.networks.unet`): resolution levels, base filters, how it
    starts, batch norm's ε and the dtype it computes in (bfloat16 where the hardware has
    it natively, by default; a run records which in its config).

    The defaults follow the authors' PyTorch networks (fan-in-uniform init, ε 1e-5)
    except the output layer, which starts at zero: on heat that lowered the error after
    300 steps by a fifth for the PG and a quarter for backprop (docs/poisson_heat.md,
    "Heat against the authors' stack").
    """

    levels: int = 4
    filters: int = 16
    network_init: str = "fan-in-uniform"
    network_output_init: str = "zeros"
    bn_epsilon: float = 1e-5
    network_dtype: str = "auto"

    def __post_init__(self) -> None:
        check_at_least(self, 1, "levels", "filters")
        check_choice("network_init", self.network_init, NETWORK_INITS)
        check_choice("network_output_init", self.network_output_init, NETWORK_OUTPUT_INITS)
        check_choice("network_dtype", self.network_dtype, NETWORK_DTYPES)
        check_positive(self, "bn_epsilon")
        super().__post_init__()
