"""Faults in training: non-finite steps are skipped and counted, long streaks stop the run
with the last good checkpoint intact, and a SIGKILLed run resumes where it stopped."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.problems import PROBLEMS
from pg_keras.problems.sin import SinProblem
from pg_keras.training.run import NonFiniteTrainingError, train


class PoisonedSin(SinProblem):
    """sin(a/x) whose observations turn NaN at chosen steps (the data seed carries the step)."""

    name = "poisoned-sin"
    bad_from = 20
    bad_until = 10**9

    def generate(self, batch_size, seed):
        batch = super().generate(batch_size, seed)
        step = seed[1]
        bad = tf.logical_and(step >= self.bad_from, step < self.bad_until)
        batch["a"] = tf.where(bad, tf.fill(tf.shape(batch["a"]), np.nan), batch["a"])
        return batch


@pytest.fixture
def poisoned(monkeypatch):
    def register(bad_from, bad_until=10**9):
        problem = type("Poisoned", (PoisonedSin,), {"bad_from": bad_from, "bad_until": bad_until})
        monkeypatch.setitem(PROBLEMS, PoisonedSin.name, problem)

    return register


def config(**overrides):
    values = dict(
        problem=PoisonedSin.name,
        gradient="inverse-physics",
        steps=40,
        log_every=5,
        checkpoint_every=10,
        max_skipped_steps=5,
        seed=1,
    )
    values.update(overrides)
    return TrainingConfig(**values)


def network_weights(run_dir):
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("network/"))
    return [reader.get_tensor(n) for n in names]


def test_a_transient_nan_is_skipped_and_counted(poisoned, tmp_path):
    poisoned(bad_from=7, bad_until=9)
    run = train(config(), tmp_path, verbose=0)
    assert run.points[-1]["step"] == 40
    assert run.points[-1]["skipped_steps"] == 2
    assert all(np.isfinite(p["y_loss"]) for p in run.points)


def test_a_long_streak_stops_with_a_message_and_keeps_the_good_checkpoint(poisoned, tmp_path):
    poisoned(bad_from=20)
    with pytest.raises(NonFiniteTrainingError) as raised:
        train(config(), tmp_path, verbose=0)
    message = str(raised.value)
    assert "Stopped at step 25" in message
    assert "non-finite loss" in message and "'inverse-physics'" in message
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("-20")

    # The checkpoint holds the weights of step 20: an unpoisoned run to step 20 agrees.
    poisoned(bad_from=10**9)
    clean = train(config(steps=20), tmp_path / "clean", verbose=0)
    for kept, good in zip(network_weights(tmp_path), network_weights(clean.run_dir), strict=True):
        np.testing.assert_allclose(kept, good, rtol=1e-6)


def test_every_checkpoint_on_disk_already_has_its_curve(poisoned, tmp_path, monkeypatch):
    """A kill right after a save must not leave a curve that stops short of the checkpoint
    (resuming from it would leave a gap in the curve): the curve is written first."""
    from pg_keras.training import run as run_module

    poisoned(bad_from=10**9)
    seen = []

    class Watching(tf.train.CheckpointManager):
        def save(self, checkpoint_number=None, **kwargs):
            curve = tmp_path / "curve.json"
            steps = [p["step"] for p in json.loads(curve.read_text())] if curve.exists() else []
            seen.append((int(checkpoint_number), steps[-1] if steps else None))
            return super().save(checkpoint_number=checkpoint_number, **kwargs)

    def watching_manager(checkpoint, run_dir):
        return Watching(checkpoint, str(run_dir / "checkpoints"), max_to_keep=2)

    monkeypatch.setattr(run_module, "checkpoint_manager", watching_manager)
    train(config(steps=30), tmp_path, verbose=0)
    assert seen == [(10, 10), (20, 20), (30, 30), (30, 30)], seen
    assert not list(tmp_path.glob("*.partial"))


def _train_command(run_dir):
    return [
        sys.executable, "-m", "pg_keras.cli", "train", "sin", "--gradient", "inverse-physics",
        "--steps", "6000", "--log-every", "50", "--checkpoint-every", "500", "--seed", "4",
        "--logdir", str(run_dir), "--quiet",
    ]  # fmt: skip


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(_train_command(killed), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        latest = tf.train.latest_checkpoint(str(killed / "checkpoints"))
        if latest and int(latest.rsplit("-", 1)[1]) >= 1000:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed; raise --steps"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stopped_at = int(tf.train.latest_checkpoint(str(killed / "checkpoints")).rsplit("-", 1)[1])
    assert stopped_at < 6000

    resumed = subprocess.run(_train_command(killed), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = subprocess.run(_train_command(tmp_path / "whole"), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]

    for name in ("killed", "whole"):
        assert tf.train.latest_checkpoint(str(tmp_path / name / "checkpoints")).endswith("-6000")
    for a, b in zip(network_weights(killed), network_weights(tmp_path / "whole"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    steps = [p["step"] for p in json.loads((killed / "curve.json").read_text())]
    assert steps == list(range(50, 6001, 50)), "the curve must continue without gaps or repeats"
