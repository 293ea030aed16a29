"""One loaded version of one model: its SignatureDefs and the functions that run them.

Signatures are called concurrently from many request threads without any lock: a loaded
`ConcreteFunction` is safe to call from several threads, and TensorFlow releases the GIL while
its kernels run, so requests overlap.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import _dtypes, _tensor_proto
from serving.errors import (
    CANONICAL_CODES,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ServingError,
    error_from_code,
)

if TYPE_CHECKING:
    from serving.batching import BatchScheduler

__all__ = ["DEFAULT_SIGNATURE", "PREDICT_METHOD_NAMES", "Servable"]

DEFAULT_SIGNATURE = "serving_default"
_GONE = "The client went away or its deadline passed before the model ran"
PREDICT_METHOD_NAMES = (
    "tensorflow/serving/predict",
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
)


def _read_meta_graph(path: str, tags: Sequence[str]) -> meta_graph_pb2.MetaGraphDef:
    # The SignatureDefs are read from saved_model.pb itself, so metadata answers carry the
    # same tensor names, shapes and method names as the real server's.
    pb_path = os.path.join(path, "saved_model.pb")
    try:
        with open(pb_path, "rb") as f:
            saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    except FileNotFoundError:
        raise NotFoundError(
            f"Could not find SavedModel .pb at supplied export directory path: {path}"
        ) from None
    except (DecodeError, OSError) as e:
        raise ServingError(
            f"Can't parse {pb_path} as binary proto: {e}", code="DATA_LOSS"
        ) from None
    wanted = set(tags)
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == wanted:
            return meta_graph
    available = [sorted(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise NotFoundError(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(sorted(wanted))} }}. "
        f"To inspect available tag-sets in the SavedModel, please use the SavedModel CLI: "
        f"`saved_model_cli`. Available tag-sets: {available}"
    )


def error_from_tensorflow(error: Exception) -> ServingError:
    """Map an exception raised while running a signature to its canonical code."""
    if isinstance(error, ServingError):
        return error
    if isinstance(error, tf.errors.OpError):
        code = (
            CANONICAL_CODES[error.error_code]
            if 0 < error.error_code < len(CANONICAL_CODES)
            else "UNKNOWN"
        )
        return error_from_code(code, error.message)
    # What else comes up is Python's text, for the log and not for clients.
    print(f"Model call failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    if isinstance(error, TypeError | ValueError):
        # Raised when binding arguments to the function: incompatible shape or dtype.
        return InvalidArgumentError("The inputs do not fit the signature's function")
    return InternalError("Internal error while running the model")


class Servable:
    """A SavedModel version: `signature_defs` for metadata, `run` for inference."""

    def __init__(
        self,
        name: str,
        version: int,
        path: str,
        meta_graph: meta_graph_pb2.MetaGraphDef,
        signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
        loaded: object,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = dict(meta_graph.signature_def)
        self._signatures = dict(signatures)
        # Held so the functions' variables live as long as this servable.
        self._loaded = loaded
        # Set by the server when --enable_batching: calls then go through the scheduler.
        self.batch_scheduler: BatchScheduler | None = None
        # Set by the server: permits for TF calls running at once, shared by all servables.
        self.inference_slots: threading.Semaphore | None = None

    @classmethod
    def load(cls, name: str, version: int, path: str, tags: Sequence[str] = ("serve",)) -> Servable:
        """Load the SavedModel at `path`; raises ServingError with the reason on failure."""
        meta_graph = _read_meta_graph(path, tags)
        try:
            loaded = tf.saved_model.load(path, tags=list(tags))
        except Exception as e:  # noqa: BLE001 - any load failure becomes a status
            raise error_from_tensorflow(e) from e
        return cls(name, version, path, meta_graph, dict(loaded.signatures), loaded)

    def signature_def(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        """The named SignatureDef ("" means serving_default); FAILED_PRECONDITION if absent."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise FailedPreconditionError(f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def input_dtypes(self, signature_name: str) -> dict[str, int]:
        signature = self.signature_def(signature_name)
        return {alias: info.dtype for alias, info in signature.inputs.items()}

    def run(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
        check_method_name: bool = False,
        still_wanted: Callable[[], bool] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run a signature on named arrays and return its named outputs as numpy arrays.

        `inputs` must match the signature's input aliases; arrays are converted to each
        input's dtype only where that loses nothing (callers check dtypes first).
        `still_wanted()` is asked once the call may start (it may have waited for an
        inference slot): False means the client has gone, and the call ends CANCELLED
        without running, since a TF call once started cannot be stopped.
        """
        key = signature_name or DEFAULT_SIGNATURE
        signature = self.signature_def(key)
        if check_method_name and signature.method_name not in PREDICT_METHOD_NAMES:
            raise InternalError(
                "Expected prediction signature method_name to be one of "
                f"{{{', '.join(PREDICT_METHOD_NAMES)}}}. Was: {signature.method_name}"
            )
        self.check_input_names(signature, inputs)
        outputs = self._select_outputs(signature, output_filter)
        function = self._signatures.get(key)
        if function is None:
            raise FailedPreconditionError(
                f'Serving signature key "{key}" has no function to run in this SavedModel.'
            )

        def invoke(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            tensors = {}
            for alias, array in arrays.items():
                dtype = signature.inputs[alias].dtype
                tf_dtype = tf.string if dtype == _dtypes.DT_STRING else tf.dtypes.as_dtype(dtype)
                tensors[alias] = tf.constant(array, dtype=tf_dtype)
            try:
                with self.inference_slots or contextlib.nullcontext():
                    if still_wanted is not None and not still_wanted():
                        raise ServingError(_GONE, code="CANCELLED")
                    results = function(**tensors)
                    return {alias: results[alias].numpy() for alias in outputs}
            except Exception as e:  # noqa: BLE001 - every failure must become a status
                raise error_from_tensorflow(e) from e

        if self.batch_scheduler is None:
            return invoke(inputs)
        if still_wanted is not None and not still_wanted():
            raise ServingError(_GONE, code="CANCELLED")
        return self.batch_scheduler.run(self.name, (id(self), key, tuple(outputs)), invoke, inputs)

    @staticmethod
    def check_input_names(signature: meta_graph_pb2.SignatureDef, inputs: Mapping) -> None:
        """INVALID_ARGUMENT unless `inputs` names every input of `signature` (after
        `with_defaults`) and nothing else."""
        sent, expected = set(inputs), set(signature.inputs)
        if sent != expected:
            extra = ",".join(sorted(sent - expected))
            missing = ",".join(sorted(expected - sent))
            raise InvalidArgumentError(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{extra}}}. Missing but required: {{{missing}}}."
            )

    @staticmethod
    def with_defaults(
        signature: meta_graph_pb2.SignatureDef, inputs: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """`inputs` plus the signature's default value of each input not sent.

        As predict_util.cc and saved_model's GetInputValues: a SignatureDef with `defaults`
        (written by `tf.saved_model.save` for a `tf.function` argument with a tensor default)
        may be called without those inputs; any other input stays required. Only the gRPC
        Predict API does this: the REST API reads every signature input from the JSON.
        """
        inputs = dict(inputs)
        if len(inputs) >= len(signature.inputs) or not signature.defaults:
            return inputs
        for alias in sorted(signature.inputs):
            if alias in inputs:
                continue
            if alias not in signature.defaults:
                required = ",".join(sorted(set(signature.inputs) - set(signature.defaults)))
                raise InvalidArgumentError(
                    f"Signature input alias: {alias}(feed name: "
                    f"{signature.inputs[alias].name}) not found in request and no default "
                    f"value provided. Inputs expected to be in the request {{{required}}}"
                )
            inputs[alias] = _tensor_proto.from_tensor_proto(signature.defaults[alias])
        return inputs

    @staticmethod
    def _select_outputs(
        signature: meta_graph_pb2.SignatureDef, output_filter: Sequence[str]
    ) -> list[str]:
        if not output_filter:
            return sorted(signature.outputs)
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise InvalidArgumentError(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(signature.outputs))}}}."
                )
            if alias in seen:
                raise InvalidArgumentError(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        return list(output_filter)
