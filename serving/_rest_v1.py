"""TF Serving's REST API (`/v1/models/...`): one call in, its status and JSON body out.

Paths, status codes and error texts follow tensorflow_serving/model_servers/
http_rest_api_handler.cc and http_rest_api_util.cc. No HTTP here: `serving.rest` reads the
requests and writes the answers.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import _json_document, _json_tensor, _responses
from serving.errors import (
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ServingError,
    UnimplementedError,
)
from serving.limits import RequestLimits, check_cost, check_declared_inputs
from serving.manager import ServableManager
from serving.monitoring import Metrics

__all__ = ["JSON", "RestAnswer", "RestApi"]

_PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1
JSON = "application/json"


def _parse_version(text: str | None) -> int | None:
    if not text:
        return None
    version = int(text)
    if version > _INT64_MAX:
        raise InvalidArgumentError(f"Failed to convert version: {text} to numeric.")
    return version


def _proto_json(message: object, preserve_names: bool) -> str:
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=preserve_names,
        always_print_fields_with_no_presence=True,
        indent=1,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class RestAnswer:
    """One REST answer: HTTP status, body, canonical code (for metrics), content type and
    any further headers."""

    status: int
    payload: bytes
    code: str
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class RestApi:
    """Answers one REST call: (method, path, body) -> (HTTP status, JSON body)."""

    def __init__(
        self,
        manager: ServableManager,
        check_method_name: bool = False,
        metrics: Metrics | None = None,
        request_limits: RequestLimits | None = None,
    ) -> None:
        self._manager = manager
        self._check_method_name = check_method_name
        self._metrics = metrics
        self._request_limits = request_limits or RequestLimits()

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for one call."""
        answer = self.answer(method, path, body)
        return answer.status, answer.payload

    def answer(
        self,
        method: str,
        path: str,
        body: bytes,
        still_wanted: Callable[[], bool] | None = None,
    ) -> RestAnswer:
        """The answer to one call, observed in the metrics. `still_wanted()` is asked right
        before the model runs: False (the client left) skips the TF call."""
        start = time.perf_counter()
        request: dict[str, str] = {}  # model name and API, once the path says them
        try:
            answer = RestAnswer(
                200, self._dispatch(method, path, body, request, still_wanted), "OK"
            )
        except ServingError as e:
            answer = RestAnswer(e.http_status, _json_document.error_document(e.message), e.code)
        except Exception as e:  # noqa: BLE001 - a bad request must never take the server down
            # The details are for the log; the client learns only that it was not its fault.
            _log(f"Internal error answering {method} {path}: {type(e).__name__}: {e}")
            error = InternalError("Internal error while answering the request")
            answer = RestAnswer(
                error.http_status, _json_document.error_document(error.message), "INTERNAL"
            )
        self.observe(request, answer.code, time.perf_counter() - start)
        return answer

    def observe(self, request: Mapping[str, str], code: str, seconds: float) -> None:
        if self._metrics is not None and request:
            self._metrics.observe_request(request["model"], request["api"], "REST", code, seconds)

    @staticmethod
    def labels(method: str, path: str) -> dict[str, str]:
        """{"model": ..., "api": ...} of a call, as far as its path says (for metrics)."""
        if method == "POST" and (match := _PREDICTION_PATH.fullmatch(path)):
            return {"model": urllib.parse.unquote(match.group(1)), "api": match.group(4)}
        if method == "GET" and (match := _STATUS_PATH.fullmatch(path)) and match.group(1):
            api = match.group(4) or "status"
            return {"model": urllib.parse.unquote(match.group(1)), "api": api}
        return {}

    def _dispatch(
        self,
        method: str,
        path: str,
        body: bytes,
        request: dict[str, str],
        still_wanted: Callable[[], bool] | None,
    ) -> bytes:
        malformed = InvalidArgumentError(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, verb = match.groups()
            name, label = urllib.parse.unquote(name), label and urllib.parse.unquote(label)
            request.update(model=name, api=verb)
            version = _parse_version(version)
            if verb == "predict":
                return self._predict(name, version, label, body, still_wanted)
            if verb in ("classify", "regress"):
                raise UnimplementedError(
                    f"The {verb} API is not implemented by this model server; use :predict."
                )
            raise malformed
        if method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, subresource = match.groups()
            version = _parse_version(version)
            if not name:
                raise InvalidArgumentError("Missing model name in request.")
            name, label = urllib.parse.unquote(name), label and urllib.parse.unquote(label)
            request.update(model=name, api=subresource or "status")
            if subresource == "metadata":
                return self._metadata(name, version, label)
            return self._status(name, version)
        raise malformed

    def _predict(
        self,
        name: str,
        version: int | None,
        label: str | None,
        body: bytes,
        still_wanted: Callable[[], bool] | None,
    ) -> bytes:
        doc = _json_document.parse_document(body)
        signature_name = _json_document.signature_name_of(doc)
        servable = self._manager.get(name, version, label)
        try:
            input_dtypes = servable.input_dtypes(signature_name)
        except FailedPreconditionError:
            raise InvalidArgumentError(
                f'Serving signature name: "{signature_name or "serving_default"}" not found in '
                "signature def"
            ) from None
        inputs, fmt = _json_tensor.tensors_from_document(
            doc,
            input_dtypes,
            signature_name,
            fast_numeric=b"true" not in body and b"false" not in body,
        )
        del doc  # the parsed JSON can be many times the arrays' size
        shapes = {alias: array.shape for alias, array in inputs.items()}
        signature = servable.signature_def(signature_name)
        check_declared_inputs(signature, shapes, self._request_limits)
        check_cost(inputs, self._request_limits)
        outputs = servable.run(
            signature_name,
            inputs,
            check_method_name=self._check_method_name,
            still_wanted=still_wanted,
        )
        return _json_tensor.document_from_tensors(outputs, fmt)

    def _status(self, name: str, version: int | None) -> bytes:
        # As in the real server, a label does not narrow the status to one version.
        response = _responses.model_status(self._manager, name, version)
        return _proto_json(response, preserve_names=False).encode("utf-8")

    def _metadata(self, name: str, version: int | None, label: str | None) -> bytes:
        response = _responses.model_metadata(
            self._manager, name, version, label, [_responses.SIGNATURE_DEF_FIELD]
        )
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[_responses.SIGNATURE_DEF_FIELD].Unpack(signature_map)
        return (
            '{\n"model_spec": '
            + _proto_json(response.model_spec, preserve_names=True)
            + ',\n"metadata": {"signature_def": '
            + _proto_json(signature_map, preserve_names=True)
            + "}\n}\n"
        ).encode("utf-8")
