"""`network_dtype="auto"`: bfloat16 only where the hardware has it; runs record it; exports
compute in float32."""

import pathlib
import re

import pytest
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.networks import _compute_dtype, resolve_network_dtype
from pg_keras.problems import get_problem
from pg_keras.training.checkpoints import restore_run
from pg_keras.training.run import resolve, train

TINY = {"ny": 16, "nx": 16, "max_half_size": 4.0, "levels": 2, "filters": 4, "nu_t": 2.0}
CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx512f {extra}\nbugs\t\t: none\n"


@pytest.fixture
def native(monkeypatch):
    def set_native(value: bool):
        monkeypatch.setattr(_compute_dtype, "native_bfloat16", lambda: value)

    return set_native


def test_cpu_flags_are_read_from_the_flags_line():
    assert _compute_dtype._cpu_flags(CPUINFO.format(extra="avx512_bf16")) >= {"avx512_bf16"}
    assert "avx512_bf16" not in _compute_dtype._cpu_flags(CPUINFO.format(extra=""))
    assert _compute_dtype._cpu_flags("no flags here") == set()


@pytest.mark.parametrize("has_it, want", [(True, "bfloat16"), (False, "float32")])
def test_auto_is_bfloat16_only_with_native_support(native, has_it, want):
    native(has_it)
    assert resolve_network_dtype("auto") == want
    for explicit in ("float32", "bfloat16"):
        assert resolve_network_dtype(explicit) == explicit
    network = get_problem("heat", TINY).build_network()
    assert network.get_layer("down0_conv0").compute_dtype == want
    assert network.get_layer("x_map").compute_dtype == "float32"


@pytest.mark.parametrize("has_it, want", [(True, "bfloat16"), (False, "float32")])
def test_a_run_records_the_dtype_auto_resolved_to(native, has_it, want):
    native(has_it)
    config = TrainingConfig(problem="heat", gradient="inverse-physics", steps=2, spec=TINY)
    assert resolve(config, get_problem("heat", TINY)).spec["network_dtype"] == want
    explicit = TrainingConfig("heat", "inverse-physics", spec={**TINY, "network_dtype": "float32"})
    problem = get_problem("heat", explicit.spec)
    assert resolve(explicit, problem).spec["network_dtype"] == "float32"
    # Problems without a U-Net spec are left alone.
    assert (
        "network_dtype"
        not in resolve(TrainingConfig("sin", "inverse-physics"), get_problem("sin")).spec
    )


def test_a_bfloat16_run_is_served_in_float32(tmp_path):
    spec = {**TINY, "network_dtype": "bfloat16"}
    config = TrainingConfig(
        problem="heat", gradient="inverse-physics", steps=2, log_every=1, batch_size=2, spec=spec
    )
    train(config, tmp_path, verbose=0)
    trained = restore_run(tmp_path)[2].network
    served = restore_run(tmp_path, as_served=True)[2].network
    assert trained.get_layer("down0_conv0").compute_dtype == "bfloat16"
    assert served.get_layer("down0_conv0").compute_dtype == "float32"
    for a, b in zip(trained.weights, served.weights, strict=True):
        assert a.path == b.path and (a.numpy() == b.numpy()).all()


def test_native_bfloat16_reads_this_machines_cpu_flags():
    if tf.config.list_physical_devices("GPU") or not pathlib.Path("/proc/cpuinfo").exists():
        pytest.skip("decided by the GPU, or no /proc/cpuinfo here")
    text = pathlib.Path("/proc/cpuinfo").read_text()
    first_flags = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE).group(1).split()
    want = "avx512_bf16" in first_flags or "amx_bf16" in first_flags
    assert _compute_dtype.native_bfloat16.__wrapped__() is want
