"""The shipped heat SavedModel solves the heat problem: on fresh default events its
‖x − x*‖₁ is well below the identity guess's (x = y*, the observation itself).

The bound, 0.75 × the identity guess's mean error on the same 16 events, was chosen so that
a network that learned nothing fails it by a wide margin while the model shipped before this
test (mean 158 against the identity's 278 on these events, ratio 0.57) and any better
re-export pass it; a ratio is used, not a number, because the error scales with the events.
"""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.problems import get_problem

HEAT = pathlib.Path(__file__).resolve().parents[1] / "saved_models" / "heat"
VERSIONS = sorted(p.name for p in HEAT.iterdir() if p.name.isdigit())


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_heat_beats_the_identity_guess_by_a_quarter(version):
    problem = get_problem("heat")
    batch = problem.generate(16, tf.constant([12345, 0], tf.int64))
    serve = tf.saved_model.load(str(HEAT / version)).signatures["serving_default"]
    x = serve(y_target=tf.cast(batch["y_target"], tf.float32))["x"]
    model_error = problem.x_error(x, batch).numpy()
    identity_error = problem.x_error(batch["y_target"], batch).numpy()
    assert np.all(np.isfinite(model_error))
    assert model_error.mean() < 0.75 * identity_error.mean(), (
        f"shipped heat model {version}: mean ‖x − x*‖₁ {model_error.mean():.1f}; "
        f"identity guess: {identity_error.mean():.1f}"
    )
