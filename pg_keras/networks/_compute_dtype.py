"""Which dtype a network computes in when its spec says `"auto"`.

bfloat16 (Keras's `mixed_bfloat16`: float32 weights, bfloat16 arithmetic) pays
only where the hardware multiplies bfloat16 natively: CPUs with AVX-512 BF16
or AMX, NVIDIA GPUs of compute capability 8.0 and newer. Elsewhere it is
emulated and slower than float32, so `"auto"` means float32 there. On the
heat U-Net (batch 32, 2 cores with AVX-512 BF16) bfloat16 learned as float32
did (docs/poisson_heat.md, the ablation's last row) in 0.65x the network
pass's CPU time.
"""

from __future__ import annotations

import functools
import pathlib

import tensorflow as tf

_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def _cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags of `/proc/cpuinfo`'s text (the first processor's)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


@functools.cache
def native_bfloat16() -> bool:
    """Whether the device TensorFlow computes on multiplies bfloat16 natively."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)
    try:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(_cpu_flags(cpuinfo) & _CPU_FLAGS)


def resolve_network_dtype(name: str) -> str:
    """`name`, with `"auto"` replaced by `"bfloat16"` or `"float32"` for this machine."""
    if name != "auto":
        return name
    return "bfloat16" if native_bfloat16() else "float32"
