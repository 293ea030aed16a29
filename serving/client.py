"""One Python client for TF Serving's gRPC and REST APIs (the real server's or ours).

    client = Client("grpc://127.0.0.1:8500")      # or Client("http://127.0.0.1:8501")
    outputs = client.predict("model", {"x": batch})  # dict of numpy arrays
    client.status("model"); client.metadata("model")
    Client("http://127.0.0.1:8501", protocol="v2")  # the Open Inference Protocol, both transports
    Client("https://host:8501", ca_file="ca.pem")    # TLS; grpcs://host:8500 for gRPC

Both transports give the same arrays: the signature's metadata (fetched once per model,
version and label, then cached) says which input alias a bare array is for, which dtype to
send, and which dtype each output has. Errors raise `serving.errors.ServingError` subclasses
(`NotFoundError`, `InvalidArgumentError`, ...) carrying the server's message, whichever
transport was used. Importing this module does not import TensorFlow; a gRPC client does
on first use, because the TensorProto messages live in the TensorFlow package. REST
connections are kept alive between calls.

With `protocol="v2"` (`serving._v2_transports`) the metadata is V2's: the `serving_default`
signature alone, so arrays for another signature are sent with their own dtypes.

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
from serving._v2_transports import GrpcV2Transport, RestV2Transport
from serving.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    NotFoundError,
    ServingError,
    UnavailableError,
)

__all__ = [
    "DEFAULT_SIGNATURE",
    "PROTOCOLS",
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
    inputs: Mapping[str, np.ndarray] | np.ndarray, signature: SignatureInfo | None
) -> dict[str, np.ndarray]:
    """Name a bare array after the signature's only input, and cast each array to the dtype
    the signature declares where numpy calls that a same-kind cast (float64 -> float32).
    Without the signature (V2, another than serving_default) arrays go as they are."""
    if isinstance(inputs, Mapping):
        named = {str(k): np.asarray(v) for k, v in inputs.items()}
    elif signature is None:
        raise ValueError(
            "Expected a dict of named inputs for a signature that V2 metadata does not "
            "describe. Received: one unnamed array"
        )
    else:
        if len(signature.inputs) != 1:
            raise ValueError(
                "Expected a dict of named inputs for a signature with inputs "
                f"{sorted(signature.inputs)}. Received: one unnamed array"
            )
        (alias,) = signature.inputs
        named = {alias: np.asarray(inputs)}
    for alias, array in named.items():
        info = signature.inputs.get(alias) if signature is not None else None
        if info is None or info.dtype == "DT_STRING" or array.dtype.kind in "OSU":
            continue
        try:
            target = _dtypes.numpy_dtype(_dtypes.dtype_from_enum_name(info.dtype))
        except ValueError:
            continue
        if np.can_cast(array.dtype, target, casting="same_kind"):
            named[alias] = array.astype(target, copy=False)
    return named


PROTOCOLS = ("tf", "v2")


def _grpc_credentials(ca_file: str | None):
    import grpc

    roots = None
    if ca_file:
        with open(ca_file, "rb") as f:
            roots = f.read()
    return grpc.ssl_channel_credentials(root_certificates=roots)


class Client:
    """A model server client: `Client("grpc://host:8500")` or `Client("http://host:8501")`.

    `protocol`: "tf" (TF Serving's API) or "v2" (the Open Inference Protocol). TLS:
    `https://` or `grpcs://`, checked against `ca_file` (PEM; default: the system's CAs).
    """

    def __init__(
        self,
        url: str,
        timeout: float | None = 30.0,
        protocol: str = "tf",
        ca_file: str | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"Expected protocol 'tf' or 'v2'. Received: protocol={protocol!r}")
        parsed = urllib.parse.urlsplit(url)
        v2 = protocol == "v2"
        if parsed.scheme in ("grpc", "grpcs") and parsed.netloc:
            credentials = _grpc_credentials(ca_file) if parsed.scheme == "grpcs" else None
            self._transport: RestTransport | GrpcTransport | GrpcV2Transport = (
                GrpcV2Transport(parsed.netloc, timeout, credentials)
                if v2
                else GrpcTransport(parsed.netloc, timeout, credentials)
            )
        elif parsed.scheme in ("http", "https") and parsed.netloc:
            kind = RestV2Transport if v2 else RestTransport
            self._transport = kind(f"{parsed.scheme}://{parsed.netloc}", timeout, ca_file)
        else:
            raise ValueError(
                "Expected a server URL like 'grpc://127.0.0.1:8500' or 'http://127.0.0.1:8501' "
                f"(grpcs://, https:// for TLS). Received: {url!r}"
            )
        self.url = url
        self.protocol = protocol
        self._metadata_cache: dict[tuple, ModelMetadata] = {}
        self._cache_lock = threading.Lock()

    def close(self) -> None:
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
        metadata = self._cached_metadata(name, version, label)
        if self.protocol == "v2":
            info = metadata.signatures.get(signature)
        else:
            info = metadata.signature(signature)
        named = _named_inputs(inputs, info)
        return self._transport.predict(name, named, signature, info, version, label)


def _check_version_and_label(version: int | None, label: str | None) -> None:
    if version is not None and label is not None:
        raise ValueError(
            f"Expected a version or a label, not both. Received: version={version}, label={label!r}"
        )
