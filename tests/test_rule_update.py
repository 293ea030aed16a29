"""`rule_update`, one step of a rule alone (what `refine` and the solvers iterate), moves x
by the rule's update towards `y*`: here plain gradient descent on ½‖Ax − y*‖²."""

import numpy as np
import tensorflow as tf

from pg_keras.physical_gradient import rule_update
from pg_keras.rules import GradientDescent

A = np.array([[2.0, 0.5], [0.5, 1.0]])
X = tf.constant([[1.0, -1.0], [0.5, 2.0]], tf.float64)
Y_STAR = tf.constant([[1.0, 2.0], [0.0, 0.0]], tf.float64)


def test_one_gradient_descent_update_is_x_minus_rate_times_the_gradient():
    update = rule_update(GradientDescent(learning_rate=0.1), lambda x: tf.matmul(x, A.T), Y_STAR)
    x = X.numpy()
    expected = x - 0.1 * (x @ A.T - Y_STAR.numpy()) @ A
    np.testing.assert_allclose(update(X), expected, rtol=1e-12)
