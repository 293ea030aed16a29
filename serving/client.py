"""One Python client for TF Serving's gRPC and REST APIs (the real server's or ours).

    client = Client("grpc://127.0.0.1:8500")      # or Client("http://127.0.0.1:8501")
    outputs = client.predict("model", {"x": batch})  # dict of numpy arrays
    client.status("model"); client.metadata("model")

Both transports give the same arrays: the signature's metadata (fetched once per model,
version and label, then cached) says which input alias a bare array is for, which dtype to
send, and which dtype each output has. Errors raise `serving.errors.ServingError` subclasses
(`NotFoundError`, `InvalidArgumentError`, ...) carrying the server's message, whichever
transport was used. Importing this module does not import TensorFlow; a gRPC client does
on first use, because the TensorProto messages live in the TensorFlow package.

The command line around it is `serving.query` (`pg-model-server query`).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping

import numpy as np

from serving import _dtypes
from serving._client_types import (
    DEFAULT_SIGNATURE,
    ModelMetadata,
    SignatureInfo,
    TensorInfo,
    VersionStatus,
)
from serving._grpc_transport import GrpcTransport
from serving._rest_transport import RestTransport
from serving.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    NotFoundError,
    ServingError,
    UnavailableError,
)

__all__ = [
    "DEFAULT_SIGNATURE",
    "Client",
    "DeadlineExceededError",
    "InvalidArgumentError",
    "ModelMetadata",
    "NotFoundError",
    "ServingError",
    "SignatureInfo",
    "TensorInfo",
    "UnavailableError",
    "VersionStatus",
]


def _named_inputs(
    inputs: Mapping[str, np.ndarray] | np.ndarray, signature: SignatureInfo
) -> dict[str, np.ndarray]:
    """Name a bare array after the signature's only input, and cast each array to the dtype
    the signature declares where numpy calls that a same-kind cast (float64 -> float32)."""
    if isinstance(inputs, Mapping):
        named = {str(k): np.asarray(v) for k, v in inputs.items()}
    else:
        if len(signature.inputs) != 1:
            raise ValueError(
                "Expected a dict of named inputs for a signature with inputs "
                f"{sorted(signature.inputs)}. Received: one unnamed array"
            )
        (alias,) = signature.inputs
        named = {alias: np.asarray(inputs)}
    for alias, array in named.items():
        info = signature.inputs.get(alias)
        if info is None or info.dtype == "DT_STRING" or array.dtype.kind in "OSU":
            continue
        try:
            target = _dtypes.numpy_dtype(_dtypes.dtype_from_enum_name(info.dtype))
        except ValueError:
            continue
        if np.can_cast(array.dtype, target, casting="same_kind"):
            named[alias] = array.astype(target, copy=False)
    return named


class Client:
    """A model server client: `Client("grpc://host:8500")` or `Client("http://host:8501")`."""

    def __init__(self, url: str, timeout: float | None = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme == "grpc" and parsed.netloc:
            self._transport: RestTransport | GrpcTransport = GrpcTransport(parsed.netloc, timeout)
        elif parsed.scheme in ("http", "https") and parsed.netloc:
            self._transport = RestTransport(f"{parsed.scheme}://{parsed.netloc}", timeout)
        else:
            raise ValueError(
                "Expected a server URL like 'grpc://127.0.0.1:8500' or 'http://127.0.0.1:8501'. "
                f"Received: {url!r}"
            )
        self.url = url
        self._metadata_cache: dict[tuple, ModelMetadata] = {}
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        if isinstance(self._transport, GrpcTransport):
            self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Status of every loaded version of `name`, or of one version."""
        return self._transport.status(name, version)

    def metadata(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> ModelMetadata:
        """The SignatureDefs of the version a request would reach (latest by default)."""
        _check_version_and_label(version, label)
        return self._transport.metadata(name, version, label)

    def _cached_metadata(self, name: str, version: int | None, label: str | None) -> ModelMetadata:
        key = (name, version, label)
        with self._cache_lock:
            cached = self._metadata_cache.get(key)
        if cached is None:
            cached = self.metadata(name, version, label)
            with self._cache_lock:
                self._metadata_cache[key] = cached
        return cached

    def predict(
        self,
        name: str,
        inputs: Mapping[str, np.ndarray] | np.ndarray,
        signature: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Run `signature` of model `name` on `inputs`; returns the outputs by alias.

        `inputs` is a dict by input alias, or one array for a single-input signature.
        """
        _check_version_and_label(version, label)
        info = self._cached_metadata(name, version, label).signature(signature)
        named = _named_inputs(inputs, info)
        return self._transport.predict(name, named, signature, info, version, label)


def _check_version_and_label(version: int | None, label: str | None) -> None:
    if version is not None and label is not None:
        raise ValueError(
            f"Expected a version or a label, not both. Received: version={version}, label={label!r}"
        )
