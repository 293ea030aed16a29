"""The Open Inference Protocol's REST API (`/v2/...`): one call in, its answer out.

    GET  /v2                                        server metadata
    GET  /v2/health/live, /v2/health/ready          200, or 400 saying why not
    GET  /v2/models/{m}[/versions/{v}]              model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready        200, or 4xx saying why not
    POST /v2/models/{m}[/versions/{v}]/infer        inference

Infer bodies are JSON tensors (`name`, `shape`, `datatype`, `data` in row-major order, flat
or nested; `parameters`; `outputs` to choose outputs), or, with the binary tensor data
extension, a JSON header of `Inference-Header-Content-Length` bytes followed by each input
whose `parameters.binary_data_size` says so, as raw bytes (`serving._v2_tensors`). Outputs
asked for with `parameters.binary_data` (or all, with the request parameter
`binary_data_output`) come back the same way. Errors are `{"error": "..."}`. What the
parameters and versions mean: `serving.v2`. No HTTP here: `serving.rest` does that.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping

import numpy as np
import orjson

from serving import _json_document, _v2_tensors
from serving._http_connections import log
from serving._rest_v1 import JSON, RestAnswer
from serving.errors import InternalError, InvalidArgumentError, NotFoundError, ServingError
from serving.monitoring import Metrics
from serving.v2 import SIGNATURE_PARAMETER, InferCall, TensorSpec, V2Api

__all__ = ["HEADER_LENGTH", "RestV2"]

#: The binary tensor data extension's header: the length of the JSON part of a body.
HEADER_LENGTH = "Inference-Header-Content-Length"
_MODEL_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer))?")
_BINARY = "application/octet-stream"


def _ok(doc: object) -> RestAnswer:
    return RestAnswer(200, orjson.dumps(doc), "OK")


def _error_answer(error: ServingError, status: int | None = None) -> RestAnswer:
    payload = _json_document.error_document(error.message)
    return RestAnswer(status or error.http_status, payload, error.code)


def _field(doc: Mapping, key: str, kind: type | tuple[type, ...], where: str, default=None):
    value = doc.get(key, default)
    if value is None and default is None:
        raise InvalidArgumentError(f"Expected {where} to have a {key!r} field. Received: none")
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidArgumentError(
            f"Expected {where} {key!r} of JSON type {getattr(kind, '__name__', kind)}. "
            f"Received: {type(value).__name__}"
        )
    return value


def _parameters(doc: Mapping, where: str) -> dict:
    return _field(doc, "parameters", dict, where, default={})


def _shape(tensor: Mapping, where: str) -> tuple[int, ...]:
    shape = _field(tensor, "shape", list, where)
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InvalidArgumentError(f"Expected {where} shape of integers. Received: {shape}")
    return tuple(shape)


def _flatten(data: object, out: list, depth: int = 0) -> None:
    if isinstance(data, list):
        if depth > 64:
            raise InvalidArgumentError("Expected data nested at most 64 deep")
        for item in data:
            _flatten(item, out, depth + 1)
    else:
        out.append(data)


def _array_from_json(spec: TensorSpec, data: object) -> np.ndarray:
    """An input's JSON `data` (flat or nested, row-major) as an array of its shape."""
    flat: list = []
    _flatten(data, flat)
    count = _v2_tensors.element_count(spec.shape)
    if len(flat) != count:
        raise InvalidArgumentError(
            f"Expected {count} elements in the data of input {spec.name} of shape "
            f"{list(spec.shape)}. Received: {len(flat)}"
        )
    if spec.datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise InvalidArgumentError(f"Expected strings in the data of BYTES input {spec.name}")
        array = np.empty(count, dtype=object)
        array[:] = [v.encode("utf-8") for v in flat]
        return array.reshape(spec.shape)
    wanted = "b" if spec.datatype == "BOOL" else "iu" if spec.datatype[0] in "IU" else "iuf"
    try:
        parsed = np.array(flat)
    except (ValueError, OverflowError):
        parsed = np.array(flat, dtype=object)
    if count and parsed.dtype.kind not in wanted:
        raise InvalidArgumentError(
            f"Expected {spec.datatype} values in the data of input {spec.name}. "
            f"Received: {type(flat[0]).__name__ if parsed.dtype.kind == 'O' else parsed.dtype}"
        )
    target = _v2_tensors.numpy_for_datatype(spec.datatype).newbyteorder("=")
    array = parsed.astype(target)
    if target.kind in "iu" and not np.array_equal(array, parsed):
        raise InvalidArgumentError(f"Expected values that fit {spec.datatype} for {spec.name}")
    return array.reshape(spec.shape)


def _json_data(alias: str, array: np.ndarray) -> object:
    if array.dtype.kind == "O":
        try:
            return [v.decode("utf-8") for v in array.reshape(-1)]
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                f"Output {alias} holds bytes that are not UTF-8; ask for it with "
                '"parameters": {"binary_data": true}'
            ) from None
    return np.ascontiguousarray(array).reshape(-1)


class RestV2:
    """Answers `/v2/...` calls over a `V2Api`."""

    def __init__(self, api: V2Api, metrics: Metrics | None = None) -> None:
        self._api = api
        self._metrics = metrics

    @staticmethod
    def owns(path: str) -> bool:
        return path == "/v2" or path.startswith("/v2/")

    @staticmethod
    def is_infer(path: str) -> bool:
        match = _MODEL_PATH.fullmatch(path)
        return match is not None and match.group(3) == "infer"

    @staticmethod
    def labels(path: str) -> dict[str, str]:
        """{"model": ..., "api": ...} of a call, for metrics."""
        match = _MODEL_PATH.fullmatch(path)
        if match is None:
            return {}
        return {"model": urllib.parse.unquote(match.group(1)), "api": match.group(3) or "metadata"}

    def answer(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        still_wanted: Callable[[], bool] | None = None,
    ) -> RestAnswer:
        start = time.perf_counter()
        labels = self.labels(path)
        try:
            answer = self._dispatch(method, path, headers, body, still_wanted)
        except ServingError as e:
            answer = _error_answer(e)
        except Exception as e:  # noqa: BLE001 - a bad request must never take the server down
            log(f"Internal error answering {method} {path}: {type(e).__name__}: {e}")
            answer = _error_answer(InternalError("Internal error while answering the request"))
        if self._metrics is not None and labels:
            seconds = time.perf_counter() - start
            self._metrics.observe_request(
                labels["model"], labels["api"], "REST", answer.code, seconds
            )
        return answer

    def _dispatch(self, method, path, headers, body, still_wanted) -> RestAnswer:
        if path in ("/v2", "/v2/health/live", "/v2/health/ready"):
            if method != "GET":
                return _error_answer(InvalidArgumentError(f"Expected GET {path}"), 405)
            if path == "/v2":
                return _ok(self._api.server_metadata())
            if path == "/v2/health/live":
                return _ok({"live": True})
            reason = self._api.not_ready_reason()
            if reason:
                return _error_answer(InvalidArgumentError(reason))
            return _ok({"ready": True})
        match = _MODEL_PATH.fullmatch(path)
        if match is None:
            raise NotFoundError(f"Not found: {method} {path}")
        name = urllib.parse.unquote(match.group(1))
        version = urllib.parse.unquote(match.group(2) or "")
        verb = match.group(3)
        if (verb == "infer") != (method == "POST") or method not in ("GET", "POST"):
            expected = "POST" if verb == "infer" else "GET"
            return _error_answer(InvalidArgumentError(f"Expected {expected} {path}"), 405)
        if verb == "infer":
            return self._infer(name, version, headers, body, still_wanted)
        if verb == "ready":
            self._api.servable(name, version)  # 404 / 400 for what is not there
            reason = self._api.not_ready_reason()
            if reason:
                return _error_answer(InvalidArgumentError(reason))
            return _ok({"name": name, "ready": True})
        return _ok(self._api.model_metadata(name, version))

    # ---- infer -------------------------------------------------------------------------

    def _infer(self, name, version, headers, body, still_wanted) -> RestAnswer:
        doc, binary = self._split(headers, body)
        parameters = _parameters(doc, "the request")
        signature_name = parameters.get(SIGNATURE_PARAMETER, "")
        if not isinstance(signature_name, str):
            raise InvalidArgumentError(f"Expected parameter {SIGNATURE_PARAMETER} to be a string")
        call = self._api.prepare(name, version, signature_name)
        tensors = _field(doc, "inputs", list, "the request")
        specs = []
        for index, tensor in enumerate(tensors):
            where = f"inputs[{index}]"
            if not isinstance(tensor, dict):
                raise InvalidArgumentError(f"Expected {where} to be a JSON object")
            specs.append(
                TensorSpec(
                    _field(tensor, "name", str, where),
                    _field(tensor, "datatype", str, where),
                    _shape(tensor, where),
                )
            )
        self._api.check_inputs(call, specs)
        inputs = self._decode(specs, tensors, binary)
        requested = self._requested_outputs(doc, parameters)
        outputs = self._api.run(call, inputs, [n for n, _ in requested], still_wanted)
        binary_outputs = {n for n, b in requested if b}
        if not requested:
            binary_outputs = set(outputs) if parameters.get("binary_data_output") else set()
        return self._response(call, doc.get("id"), outputs, binary_outputs)

    @staticmethod
    def _split(headers: Mapping[str, str], body: bytes) -> tuple[dict, memoryview]:
        view = memoryview(body)
        length = headers.get(HEADER_LENGTH)
        if length is not None:
            if not length.isdigit() or int(length) > len(body):
                raise InvalidArgumentError(
                    f"Expected {HEADER_LENGTH} to be the length of the JSON part of the body "
                    f"(at most {len(body)}). Received: {length!r}"
                )
            head, view = bytes(view[: int(length)]), view[int(length) :]
        else:
            head, view = body, view[len(body) :]
        try:
            doc = orjson.loads(head)
        except orjson.JSONDecodeError:
            try:
                doc = json.loads(head)
            except (ValueError, RecursionError) as e:
                raise InvalidArgumentError(
                    f"Expected a JSON infer request. Received: {e}"
                ) from None
        if not isinstance(doc, dict):
            raise InvalidArgumentError("Expected a JSON object as the infer request")
        return doc, view

    @staticmethod
    def _decode(specs, tensors, binary: memoryview) -> dict[str, np.ndarray]:
        inputs, offset = {}, 0
        for spec, tensor in zip(specs, tensors, strict=True):
            size = _parameters(tensor, spec.name).get("binary_data_size")
            if size is None:
                if "data" not in tensor:
                    raise InvalidArgumentError(
                        f"Expected input {spec.name} to have 'data' or "
                        "parameters.binary_data_size. Received: neither"
                    )
                inputs[spec.name] = _array_from_json(spec, tensor["data"])
                continue
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InvalidArgumentError(
                    f"Expected binary_data_size of input {spec.name} within the "
                    f"{len(binary)} bytes after the JSON header. Received: {size}"
                )
            chunk = bytes(binary[offset : offset + size])
            inputs[spec.name] = _v2_tensors.from_raw(spec.name, spec.datatype, spec.shape, chunk)
            offset += size
        if offset != len(binary):
            raise InvalidArgumentError(
                f"Expected {offset} bytes of binary input data. Received: {len(binary)}"
            )
        return inputs

    @staticmethod
    def _requested_outputs(doc: Mapping, parameters: Mapping) -> list[tuple[str, bool]]:
        wanted = []
        default = bool(parameters.get("binary_data_output", False))
        for index, output in enumerate(_field(doc, "outputs", list, "the request", default=[])):
            where = f"outputs[{index}]"
            if not isinstance(output, dict):
                raise InvalidArgumentError(f"Expected {where} to be a JSON object")
            binary = _parameters(output, where).get("binary_data", default)
            wanted.append((_field(output, "name", str, where), bool(binary)))
        return wanted

    @staticmethod
    def _response(
        call: InferCall, request_id: object, outputs: Mapping[str, np.ndarray], binary: set[str]
    ) -> RestAnswer:
        tensors, raw = [], []
        for alias, array in outputs.items():
            datatype = call.output_datatype(alias)
            tensor = {"name": alias, "datatype": datatype, "shape": list(array.shape)}
            if alias in binary:
                data = _v2_tensors.to_raw(array, datatype)
                tensor["parameters"] = {"binary_data_size": len(data)}
                raw.append(data)
            else:
                tensor["data"] = _json_data(alias, array)
            tensors.append(tensor)
        doc = {"model_name": call.servable.name, "model_version": str(call.servable.version)}
        if isinstance(request_id, str) and request_id:
            doc["id"] = request_id
        doc["outputs"] = tensors
        head = _dumps(doc)
        if not raw:
            return RestAnswer(200, head, "OK", JSON)
        headers = ((HEADER_LENGTH, str(len(head))),)
        return RestAnswer(200, head + b"".join(raw), "OK", _BINARY, headers)


def _dumps(doc: dict) -> bytes:
    """orjson for finite numbers; NaN and infinities, which orjson would write as null, as
    the NaN/Infinity tokens of TF Serving's JSON."""
    finite = all(
        not isinstance(t.get("data"), np.ndarray)
        or t["data"].dtype.kind != "f"
        or np.isfinite(t["data"]).all()
        for t in doc["outputs"]
    )
    if finite:
        return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    for tensor in doc["outputs"]:
        if isinstance(tensor.get("data"), np.ndarray):
            tensor["data"] = tensor["data"].tolist()
    return json.dumps(doc, allow_nan=True).encode("utf-8")
