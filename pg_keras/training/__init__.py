"""Training with Keras `fit`: the model, callbacks, single runs and comparisons."""
