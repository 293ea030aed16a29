"""The TF runtime's process-wide settings: `--tensorflow_session_config_file` and the thread
flags.

TF Serving hands the session config file (a text-format ConfigProto) to every TF session it
creates, with the thread flags overriding its thread counts. Here every model's TF2 functions
run in one eager runtime, so the same ConfigProto becomes that runtime's config; it can only
be set before the runtime starts, which in a `python -m serving` process is before the first
model loads.

One field that matters for per-event serving on few cores: `experimental {
disable_thread_spinning: true }` (`serving/deploy/session.config`). TF's pool threads
otherwise spin after each op looking for more work, and with one or two cores they take the
CPU that the reply to the request needs; `pg-keras bench-serving --session-config` measures
it (README, "Serving speed").
"""

from __future__ import annotations

import tensorflow as tf
from google.protobuf import message
from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context

from serving._config_protos import read_text_proto

__all__ = ["configure", "read_session_config"]

# ConfigProto fields for TF1 sessions that the eager runtime has no use for: a file setting
# them would be silently half-applied.
_SESSION_ONLY_FIELDS = (
    "session_inter_op_thread_pool",
    "use_per_session_threads",
    "cluster_def",
    "rpc_options",
    "isolate_session_state",
    "placement_period",
)


def read_session_config(path: str) -> config_pb2.ConfigProto:
    """Parse a `--tensorflow_session_config_file` (text-format ConfigProto)."""
    config = read_text_proto("tensorflow_session_config_file", path, config_pb2.ConfigProto())
    unused = [field.name for field, _ in config.ListFields() if field.name in _SESSION_ONLY_FIELDS]
    if unused:
        raise ValueError(
            f"--tensorflow_session_config_file={path} sets {', '.join(unused)}, which only TF1 "
            "sessions use; this server runs TF2 functions on the process-wide pools. Set the "
            "thread counts with intra_op_parallelism_threads / inter_op_parallelism_threads."
        )
    return config


def _started() -> bool:
    return context.context()._context_handle is not None  # noqa: SLF001 - no public test


def _differing(wanted: message.Message, current: message.Message, prefix: str = "") -> list[str]:
    """Dotted names of the fields set in `wanted` whose value `current` does not have (fields
    `wanted` leaves unset are not compared: TF fills some in itself)."""
    names = []
    for field, value in wanted.ListFields():
        name = prefix + field.name
        if field.message_type is not None and not field.is_repeated:
            names += _differing(value, getattr(current, field.name), name + ".")
        elif getattr(current, field.name) != value:
            names.append(name)
    return names


def configure(
    session_config: config_pb2.ConfigProto | None = None, intra_op: int = 0, inter_op: int = 0
) -> None:
    """Start this process's TF runtime with `session_config`, its thread counts replaced by
    `intra_op` / `inter_op` where those are > 0.

    Raises RuntimeError if the runtime has already started with other settings (in an
    embedded server, say, in a process that ran TF before)."""
    if _started():
        wanted = config_pb2.ConfigProto()
        if session_config is not None:
            wanted.CopyFrom(session_config)
        if intra_op > 0:
            wanted.intra_op_parallelism_threads = intra_op
        if inter_op > 0:
            wanted.inter_op_parallelism_threads = inter_op
        differing = _differing(wanted, context.context().config)
        if differing:
            raise RuntimeError(
                "TensorFlow already runs in this process with other settings "
                f"({', '.join(differing)}), and they can only be set before it starts: start "
                "the server in a fresh process (python -m serving)"
            )
        return
    if session_config is not None:
        # TF2 has no public setter for the runtime's ConfigProto; this is the attribute
        # `Context(config=...)` fills, read once when the runtime starts. The thread setters
        # below are applied over it, as TF Serving's flags override the file.
        context.context()._config = session_config  # noqa: SLF001
    if intra_op > 0:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op > 0:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
