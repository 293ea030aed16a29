"""What export resolves from a problem before it writes anything: the serving inputs, the
rule `refine` repeats, and the warm-up requests TF Serving replays (no training here)."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.export import (
    WARMUP_FILE,
    ExportError,
    _warmup,
    refine_rule,
    serving_inputs,
    warmup_inputs,
    write_warmup_requests,
)
from pg_keras.problems import get_problem
from pg_keras.problems.base import Scheme
from pg_keras.problems.wavepacket import WavePacketProblem
from pg_keras.rules import Adjoint
from pg_keras.rules.base import GradientRule
from pg_keras.rules.supervised import Supervised


class _Unserved(WavePacketProblem):
    def observation_shape(self):
        return None


class _Declared(WavePacketProblem):
    """Declares both hooks: the declared inputs win over the observation's shape."""

    def serving_inputs(self):
        return {"a": tf.TensorSpec([None, 3], tf.float32, name="a")}


def _with_inverse_rule(rule):
    class _Problem(WavePacketProblem):
        def schemes(self):
            return {"inverse-physics": lambda: Scheme("inverse-physics", rule)}

    return _Problem()


def test_a_request_is_y_star_of_the_observations_shape_unless_inputs_are_declared():
    wavepacket = get_problem("wavepacket")
    assert serving_inputs(wavepacket) == {
        "y_target": tf.TensorSpec([None, 256], tf.float32, name="y_target")
    }
    assert serving_inputs(get_problem("sin")) == {
        "a": tf.TensorSpec([None, 1], tf.float32, name="a")
    }
    assert list(serving_inputs(_Declared())) == ["a"]


def test_a_problem_without_serving_shapes_is_refused_by_name():
    with pytest.raises(ExportError, match="Problem 'wavepacket' declares no serving shapes"):
        serving_inputs(_Unserved())


def test_exporting_a_run_of_a_problem_without_serving_shapes_writes_nothing(tmp_path, monkeypatch):
    """The refusal comes before the model's directory is made: no empty `BASE/NAME/` is left
    for a server that watches `BASE` to find."""
    from pg_keras.export import _export

    problem = _Unserved()
    run = (None, problem, problem.build_network(), 1)  # (config, problem, network, step)
    monkeypatch.setattr(_export, "load_run", lambda run_dir: run)
    base = tmp_path / "models"
    with pytest.raises(ExportError, match="declares no serving shapes"):
        _export.export_run(tmp_path / "run", "unserved", base_path=base)
    assert not (base / "unserved").exists()


def test_refine_repeats_the_problems_own_inverse_and_nothing_else():
    rule = refine_rule(get_problem("sin"))
    assert isinstance(rule, GradientRule) and rule.is_physical
    assert refine_rule(get_problem("wavepacket")) is None  # no inverse
    assert refine_rule(_with_inverse_rule(Adjoint())) is None  # not a physical gradient
    assert refine_rule(_with_inverse_rule(Supervised())) is None  # not a gradient rule


def test_warmup_inputs_are_the_generators_batch_as_float32():
    problem = get_problem("sin")
    inputs = warmup_inputs(problem, 3, seed=5)
    batch = problem.generate(3, tf.constant([5, 3], tf.int64))
    assert list(inputs) == ["a"] and inputs["a"].dtype == np.float32
    np.testing.assert_array_equal(inputs["a"], tf.cast(batch["a"], tf.float32))


def read_requests(path):
    from tensorflow_serving.apis import prediction_log_pb2

    records = tf.data.TFRecordDataset(str(path)).as_numpy_iterator()
    return [prediction_log_pb2.PredictionLog.FromString(r).predict_log.request for r in records]


def test_one_predict_request_per_batch_size_from_the_generator(tmp_path):
    problem = get_problem("sin")
    path = tmp_path / WARMUP_FILE
    assert write_warmup_requests(path, problem, "sin", (2, 3), seed=7, signature_name="x") == 2
    requests = read_requests(path)
    assert [r.model_spec.name for r in requests] == ["sin", "sin"]
    assert [r.model_spec.signature_name for r in requests] == ["x", "x"]
    for request, size in zip(requests, (2, 3), strict=True):
        np.testing.assert_array_equal(
            tf.make_ndarray(request.inputs["a"]), warmup_inputs(problem, size, 7)["a"]
        )


def test_by_default_batches_of_1_and_4_from_seed_0_for_serving_default(tmp_path):
    problem = get_problem("sin")
    assert write_warmup_requests(tmp_path / WARMUP_FILE, problem, "sin") == 2
    requests = read_requests(tmp_path / WARMUP_FILE)
    assert [r.model_spec.signature_name for r in requests] == ["serving_default"] * 2
    for request, size in zip(requests, (1, 4), strict=True):
        np.testing.assert_array_equal(
            tf.make_ndarray(request.inputs["a"]), warmup_inputs(problem, size, 0)["a"]
        )


def test_one_to_1000_warmup_records_tf_servings_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(_warmup, "warmup_inputs", lambda *_: {"a": np.zeros([1, 1], np.float32)})
    problem = get_problem("sin")
    assert _warmup.MAX_WARMUP_RECORDS == 1000
    assert write_warmup_requests(tmp_path / "one", problem, "sin", [3]) == 1
    assert write_warmup_requests(tmp_path / "full", problem, "sin", [1] * 1000) == 1000
    assert len(read_requests(tmp_path / "full")) == 1000
    for sizes in ([], [1] * 1001):
        with pytest.raises(
            ValueError, match=f"1 to 1000 warm-up batch sizes. Received: {len(sizes)}"
        ):
            write_warmup_requests(tmp_path / "refused", problem, "sin", sizes)
