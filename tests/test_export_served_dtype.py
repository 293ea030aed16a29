"""What `export_run` exports of a run trained in bfloat16: the network `load_run` restores
computes in float32, so the SavedModel answers alike on machines with and without native
bfloat16 (`restore_run`'s `as_served`)."""

from __future__ import annotations

from pg_keras.config import TrainingConfig
from pg_keras.export import load_run
from pg_keras.training.run import train

TINY = {"ny": 16, "nx": 16, "max_half_size": 4.0, "levels": 2, "filters": 4, "nu_t": 2.0}


def test_a_bfloat16_run_is_exported_computing_in_float32(tmp_path):
    spec = {**TINY, "network_dtype": "bfloat16"}
    config = TrainingConfig(
        problem="heat", gradient="inverse-physics", steps=1, log_every=1, batch_size=2, spec=spec
    )
    train(config, tmp_path, verbose=0)
    _, _, network, step = load_run(tmp_path)
    assert step == 1
    assert {layer.compute_dtype for layer in network.layers} == {"float32"}
