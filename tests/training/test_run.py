"""Training runs: logs, checkpoints and resume, determinism, compare reports."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.config import CompareConfig, TrainingConfig
from pg_keras.training.compare import compare
from pg_keras.training.run import RunDirectoryError, train


def config(**overrides):
    values = dict(problem="sin", gradient="inverse-physics", steps=40, log_every=10, seed=3)
    values.update(overrides)
    return TrainingConfig(**values)


def checkpoint_weights(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("network/"))
    return {n: reader.get_tensor(n) for n in names}


def scalar_tags(run_dir):
    tags = set()
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return train(config(), run_dir, verbose=0)


def test_a_run_writes_config_curve_checkpoint_and_tensorboard(finished_run):
    run_dir = finished_run.run_dir
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["learning_rate"] == 0.002 and stored["batch_size"] == 1000
    assert [p["step"] for p in finished_run.points] == [10, 20, 30, 40]
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")).endswith("-40")
    tags = scalar_tags(run_dir)
    for tag in ("loss", "y_loss", "x_mae", "pg_norm", "learning_rate", "step_time_ms"):
        assert tag in tags
    assert "_hparams_/session_start_info" in tags


def test_training_improves_the_fit(finished_run):
    assert finished_run.points[-1]["y_loss"] < finished_run.points[0]["y_loss"]


def test_resume_continues_the_uninterrupted_run(tmp_path, finished_run):
    resumed_dir = tmp_path / "resumed"
    first = train(config(steps=20), resumed_dir, verbose=0)
    assert first.points[-1]["step"] == 20
    second = train(config(steps=40), resumed_dir, verbose=0)
    assert [p["step"] for p in second.points] == [10, 20, 30, 40]
    whole = checkpoint_weights(finished_run.run_dir)
    resumed = checkpoint_weights(resumed_dir)
    assert whole.keys() == resumed.keys()
    for name in whole:
        np.testing.assert_allclose(resumed[name], whole[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        second.points[-1]["x_mae"], finished_run.points[-1]["x_mae"], rtol=1e-3
    )


def test_same_seed_gives_the_same_run(tmp_path, finished_run):
    again = train(config(), tmp_path / "again", verbose=0)
    for mine, theirs in zip(again.points, finished_run.points, strict=True):
        np.testing.assert_allclose(mine["y_loss"], theirs["y_loss"], rtol=1e-5)


def test_a_run_directory_with_other_settings_is_refused(finished_run):
    with pytest.raises(RunDirectoryError, match="gradient='inverse-physics', now 'adjoint'"):
        train(config(gradient="adjoint"), finished_run.run_dir, verbose=0)


def cosine_config():
    return config(lr_schedule="cosine", checkpoint_every=10)


@pytest.fixture(scope="module")
def cosine_run(tmp_path_factory):
    return train(cosine_config(), tmp_path_factory.mktemp("cosine"), verbose=0)


def test_a_cosine_schedule_decays_to_zero_over_the_steps_and_resumes_only_with_them(cosine_run):
    run = cosine_run
    steps = np.array([p["step"] for p in run.points])
    expected = 0.002 * 0.5 * (1.0 + np.cos(np.pi * steps / 40))
    logged = [p["learning_rate"] for p in run.points]
    np.testing.assert_allclose(logged, expected, rtol=1e-5, atol=1e-9)
    assert logged[-1] < 1e-8
    with pytest.raises(RunDirectoryError, match=r"steps=40, now 80 \(the cosine learning rate"):
        train(dataclasses.replace(cosine_config(), steps=80), run.run_dir, verbose=0)
    assert tf.train.latest_checkpoint(str(run.run_dir / "checkpoints")).endswith("-40")


def test_a_cosine_run_resumed_after_a_kill_goes_on_along_its_schedule(tmp_path, cosine_run):
    cosine, whole = cosine_config(), cosine_run
    killed = tmp_path / "killed"
    train(cosine, killed, verbose=0)
    # As if killed after step 30's save: ckpt-40 gone, the manager's state at ckpt-30.
    checkpoints = killed / "checkpoints"
    for path in checkpoints.glob("ckpt-40*"):
        path.unlink()
    tf.compat.v1.train.update_checkpoint_state(str(checkpoints), str(checkpoints / "ckpt-30"))
    resumed = train(cosine, killed, verbose=0)
    assert [p["step"] for p in resumed.points] == [10, 20, 30, 40]
    logged = [p["learning_rate"] for p in resumed.points]
    np.testing.assert_allclose(logged, [p["learning_rate"] for p in whole.points], atol=1e-9)
    whole_weights, resumed_weights = checkpoint_weights(whole.run_dir), checkpoint_weights(killed)
    for name in whole_weights:
        np.testing.assert_allclose(resumed_weights[name], whole_weights[name], rtol=1e-5, atol=1e-6)


def test_an_unknown_lr_schedule_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Expected `lr_schedule` in \('constant', 'cosine'\)"):
        config(lr_schedule="linear")


def test_a_checkpoint_that_does_not_fit_the_network_is_refused_by_name(tmp_path):
    tiny = {"ny": 16, "nx": 16, "levels": 2, "filters": 4, "max_half_size": 3.0}
    runs = {}
    for filters in (4, 8):
        heat = config(problem="heat", steps=2, log_every=1, batch_size=2)
        heat = TrainingConfig(**{**heat.__dict__, "spec": {**tiny, "filters": filters}})
        runs[filters] = tmp_path / f"filters{filters}"
        train(heat, runs[filters], verbose=0)
    # Run 4's config with run 8's checkpoints, as a checkpoint from another network would be.
    (runs[4] / "checkpoints").rename(tmp_path / "kept")
    (runs[8] / "checkpoints").rename(runs[4] / "checkpoints")
    before = sorted(p.name for p in (runs[4] / "checkpoints").iterdir())
    resumed = TrainingConfig(**{**heat.__dict__, "steps": 4, "spec": {**tiny, "filters": 4}})
    with pytest.raises(RunDirectoryError, match=r"Checkpoint .*ckpt-2' does not fit this network"):
        train(resumed, runs[4], verbose=0)
    assert sorted(p.name for p in (runs[4] / "checkpoints").iterdir()) == before


def test_an_unwritable_directory_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunDirectoryError, match="Cannot write to log directory"):
        train(config(), blocker / "run", verbose=0)


def test_supervised_and_float64_physics_train(tmp_path):
    run = train(config(gradient="supervised", steps=10), tmp_path / "sup", verbose=0)
    assert np.isfinite(run.points[-1]["x_mae"])
    run = train(
        config(gradient="newton", steps=10, spec={"physics_dtype": "float64"}),
        tmp_path / "f64",
        verbose=0,
    )
    assert np.isfinite(run.points[-1]["y_loss"])


def test_compare_report_has_the_documented_shape(tmp_path):
    config = CompareConfig("sin", ("adjoint", "inverse-physics"), 200, seeds=(1, 2))
    report = compare(config, tmp_path, verbose=0)
    # The required keys; problems may add more (steps_to_match, baseline, ...).
    assert {"problem", "steps", "batch", "seeds", "results"} <= set(report)
    assert report["batch"] == 1000 and report["seeds"] == [1, 2]
    for result in report["results"].values():
        assert {"final", "runs", "step_time_ms"} <= set(result)
        assert set(result["final"]) == {"y_loss", "x_mae"}
        assert [run["seed"] for run in result["runs"]] == [1, 2]
        for run in result["runs"]:
            assert len(run["curve"]) >= 100
            assert set(run["inference"]) == {"y_loss", "x_mae"}
            assert run["curve_columns"] == ["step", "y_loss", "x_mae"]
            assert all(len(point) == 3 for point in run["curve"])
        assert result["step_time_ms"]["median"] > 0
    # Same seed, same initial weights: the first logged step differs only by the rule.
    first = {n: r["runs"][0]["curve"][0] for n, r in report["results"].items()}
    assert first["adjoint"][0] == first["inverse-physics"][0] == 1
    assert (tmp_path / "adjoint" / "seed1" / "checkpoints").is_dir()


def test_inference_mode_evaluation_of_a_run(finished_run):
    from pg_keras.problems import get_problem
    from pg_keras.training.checkpoints import evaluate_run, restore_network
    from pg_keras.training.run import EVALUATION_STREAM, make_dataset

    held_out = evaluate_run(finished_run.run_dir, batches=2)
    # Recomputed by hand: the latest checkpoint's network in inference mode on the two
    # batches of the evaluation stream, which training never draws from.
    problem = get_problem("sin")
    network, _ = restore_network(problem, finished_run.run_dir)
    stored = json.loads((finished_run.run_dir / "config.json").read_text())
    first, batch_size = EVALUATION_STREAM, stored["batch_size"]
    errors = [
        problem.x_error(problem.predict_x(network, batch, training=False), batch)
        for batch in make_dataset(problem, batch_size, stored["seed"], first, first + 2)
    ]
    np.testing.assert_allclose(held_out["x_mae"], np.mean(errors), rtol=1e-5)
    with pytest.raises(RunDirectoryError, match="has no config.json"):
        evaluate_run(finished_run.run_dir.parent / "nothing-here")


def test_a_runs_network_alone_restores_for_figures(finished_run, tmp_path):
    from pg_keras.problems import get_problem
    from pg_keras.training.checkpoints import restore_network, restore_run

    network, path = restore_network(get_problem("sin"), finished_run.run_dir)
    assert path == tf.train.latest_checkpoint(str(finished_run.run_dir / "checkpoints"))
    trained = restore_run(finished_run.run_dir)[2].network
    assert len(network.weights) == len(trained.weights) > 0
    for restored, weight in zip(network.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(restored.numpy(), weight.numpy())
    # A run directory without checkpoints names what is missing.
    (tmp_path / "config.json").write_text((finished_run.run_dir / "config.json").read_text())
    with pytest.raises(RunDirectoryError, match="has no checkpoint in checkpoints/"):
        restore_network(get_problem("sin"), tmp_path)
