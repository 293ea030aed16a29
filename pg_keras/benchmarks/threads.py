"""TensorFlow's thread pools for a benchmark process, set before TensorFlow runs."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["set_thread_pools"]


def set_thread_pools(intra_op: int = 0, inter_op: int = 0) -> None:
    """Threads inside one op (`intra_op`) and ops run at once (`inter_op`); 0 keeps
    TensorFlow's choice (one per core).

    Raises:
        ValueError: a negative count.
        RuntimeError: TensorFlow already runs in this process with other counts (they
            can only be set before it starts).
    """
    for name, count in (("intra_op", intra_op), ("inter_op", inter_op)):
        if count < 0:
            raise ValueError(f"Expected `{name}` >= 0 (0: TF's choice). Received: {name}={count}")
    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
