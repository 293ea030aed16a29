"""Pure TensorFlow physics: simulators and inverse solvers, batched on axis 0, no Keras."""
