"""The REST front end: TF Serving's `/v1/models/...` API on aiohttp's low-level HTTP server.

Paths, status codes and error texts follow tensorflow_serving/model_servers/
http_rest_api_handler.cc and http_rest_api_util.cc. What a client may ask of it is bounded:

- One event-loop thread owns every connection. It reads each request, answers status,
  metadata, readiness and metrics itself (none of them touches TF), and writes every answer
  under `--pg_rest_write_timeout_seconds`: a client that does not read its answer is cut off
  then, and never holds a thread meanwhile.
- Predict calls run on `--rest_api_num_threads` threads (the compute slots). At most
  `--pg_max_queued_requests` more may wait for one (their bodies being read or queued); the
  next is answered 503 at once. A slot is free again as soon as its answer is computed.
- Bodies: a Content-Length over `--pg_rest_max_body_bytes` is answered 413 before a byte of
  the body is read; a chunked body is read only up to it.
- Connections: at most `--pg_rest_max_connections` (one more is answered 503 and closed);
  one idle, or sending no complete request, for `--pg_rest_idle_timeout_seconds` is closed.
- The HTTP parser (llhttp) refuses a bad request line, two Content-Length headers or a bad
  chunk size with 400 and closes the connection, so nothing after them can pass for another
  request. Every answer, those included, has a JSON body.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import re
import resource
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

from aiohttp import http_exceptions, web, web_protocol
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import _json_tensor, _responses
from serving.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ServingError,
    UnavailableError,
    UnimplementedError,
)
from serving.limits import AdmissionGate, RequestLimits, check_cost, check_declared_inputs
from serving.manager import ServableManager
from serving.monitoring import Metrics

__all__ = ["RestApi", "RestLimits", "RestServer", "Route"]

#: A GET path outside /v1 (readiness, Prometheus): the rest of the path after the route's own
#: -> (status, body, content type).
Route = Callable[[str], tuple[int, bytes, str]]

_PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_API_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_CORS_ORIGIN = re.compile(r"https?://")
_INT64_MAX = 2**63 - 1
_JSON = "application/json"
# Names no software version: the real server's REST answers carry no Server header at all,
# and aiohttp would otherwise add its own and Python's versions.
_SERVER_HEADER = "pg-model-server"
# File descriptors kept free for the gRPC server, model files and logs when the connection cap
# is fitted under the process's limit.
_RESERVED_FDS = 128


@dataclasses.dataclass(frozen=True)
class RestLimits:
    """What connections may ask of the REST server (the `--pg_rest_*` flags)."""

    max_body_bytes: int = 64 * 2**20
    max_connections: int = 1024
    idle_timeout_s: float = 30.0
    write_timeout_s: float = 30.0
    max_queued_requests: int = 16

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(
                    f"Expected {field.name} > 0. Received: {field.name}={getattr(self, field.name)}"
                )


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
class _Answer:
    status: int
    payload: bytes
    code: str  # canonical code, for metrics


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
    ) -> _Answer:
        """The answer to one call, observed in the metrics. `still_wanted()` is asked right
        before the model runs: False (the client left) skips the TF call."""
        start = time.perf_counter()
        request: dict[str, str] = {}  # model name and API, once the path says them
        try:
            answer = _Answer(200, self._dispatch(method, path, body, request, still_wanted), "OK")
        except ServingError as e:
            answer = _Answer(e.http_status, _json_tensor.error_document(e.message), e.code)
        except Exception as e:  # noqa: BLE001 - a bad request must never take the server down
            # The details are for the log; the client learns only that it was not its fault.
            _log(f"Internal error answering {method} {path}: {type(e).__name__}: {e}")
            error = InternalError("Internal error while answering the request")
            answer = _Answer(
                error.http_status, _json_tensor.error_document(error.message), "INTERNAL"
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
        doc = _json_tensor.parse_document(body)
        signature_name = _json_tensor.signature_name_of(doc)
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


class _HttpError(Exception):
    """An answer decided before the API saw the call (413, 408, 503, ...)."""

    def __init__(self, error: ServingError, status: int | None = None, close: bool = False):
        super().__init__(error.message)
        self.error = error
        self.status = status or error.http_status
        self.close = close


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = _json_tensor.error_document(message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {_JSON}\r\nContent-Length: {len(body)}\r\n"
        f"Server: {_SERVER_HEADER}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Refusal(asyncio.Protocol):
    """A connection over `--pg_rest_max_connections`: 503 as soon as it speaks, then closed."""

    def __init__(self, cap: int, linger_s: float) -> None:
        self._cap = cap
        self._linger_s = linger_s
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        asyncio.get_running_loop().call_later(self._linger_s, transport.abort)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        if self._transport.is_closing():
            return
        message = (
            f"Server is at capacity: {self._cap} connections are open "
            "(--pg_rest_max_connections); retry later"
        )
        self._transport.write(_raw_response(503, "Service Unavailable", message))
        self._transport.close()


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler, with JSON bodies for the errors its parser answers."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("Answer already started; cannot send an error after it")
        if status >= 500:
            _log(f"REST: {type(exc).__name__ if exc else 'error'} {exc or message}")
            text = "Internal error while answering the request"
        else:
            # The parser's message, without the echo of the offending line under it.
            text = f"Bad HTTP request: {str(message or status).splitlines()[0].rstrip(':')}"
        response = web.Response(
            status=status,
            body=_json_tensor.error_document(text),
            content_type=_JSON,
            headers={"Server": _SERVER_HEADER},
        )
        response.force_close()
        return response


class _WebServer(web.Server):
    """aiohttp's low-level server with a cap on connections and a record of them."""

    def __init__(self, handler, max_connections: int, **kwargs) -> None:
        super().__init__(handler, **kwargs)
        self.max_connections = max_connections
        self.transports: dict[web_protocol.RequestHandler, asyncio.Transport] = {}
        # What the connection handler takes (the server's own options go to web.Server).
        self._connection_options = {
            k: v for k, v in kwargs.items() if k not in ("request_factory", "handler_cancellation")
        }

    def __call__(self) -> asyncio.Protocol:  # the protocol factory of the listening socket
        loop = asyncio.get_running_loop()
        if len(self.transports) >= self.max_connections:
            return _Refusal(self.max_connections, linger_s=1.0)
        return _Connection(self, loop=loop, **self._connection_options)

    def connection_made(self, handler, transport) -> None:
        super().connection_made(handler, transport)
        self.transports[handler] = transport

    def connection_lost(self, handler, exc=None) -> None:
        super().connection_lost(handler, exc)
        self.transports.pop(handler, None)


def _connection_cap(wanted: int) -> int:
    """`wanted`, or fewer if the process may not open that many files: at the descriptor limit
    accept() fails and the port is as good as closed."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted + _RESERVED_FDS <= soft:
        return wanted
    fitted = max(1, soft - _RESERVED_FDS)
    _log(
        f"--pg_rest_max_connections={wanted} lowered to {fitted}: the process may open only "
        f"{soft} files (ulimit -n)"
    )
    return fitted


class RestServer:
    """The REST API on `host:port` (port 0 picks a free one; see `.port`).

    `routes` answer GET paths outside /v1 (readiness, Prometheus): a key ending in "/" takes
    every path under it, the route getting the rest.
    """

    def __init__(
        self,
        manager: ServableManager,
        host: str = "127.0.0.1",
        port: int = 8501,
        num_threads: int = 16,
        timeout_in_ms: int = 30000,
        enable_cors: bool = False,
        check_method_name: bool = False,
        verbose: bool = False,
        metrics: Metrics | None = None,
        routes: Mapping[str, Route] | None = None,
        limits: RestLimits | None = None,
        request_limits: RequestLimits | None = None,
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"Expected `num_threads` >= 1. Received: num_threads={num_threads}")
        self._api = RestApi(manager, check_method_name, metrics, request_limits)
        self._timeout_s = timeout_in_ms / 1000.0 if timeout_in_ms > 0 else None
        self._enable_cors = enable_cors
        self._verbose = verbose
        self._routes = dict(routes or {})
        self.limits = limits or RestLimits()
        self._max_connections = _connection_cap(self.limits.max_connections)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=num_threads, thread_name_prefix="serving-rest"
        )
        # Predict calls inside: computing on a slot, waiting for one, or reading their body.
        self.gate = AdmissionGate(
            num_threads + self.limits.max_queued_requests, "REST predict calls"
        )
        self._socket = socket.create_server(
            (host, port),
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            backlog=1024,
            reuse_port=False,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._drained = True
        self._grace_s = 0.0

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    @property
    def busy(self) -> int:
        """Predict calls not yet finished (a late one still computing counts)."""
        return self.gate.inside

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="serving-rest-loop", daemon=True)
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._web = _WebServer(
            self._handle,
            max_connections=self._max_connections,
            request_factory=self._request_factory,
            keepalive_timeout=self.limits.idle_timeout_s,
            lingering_time=1.0,
            access_log=None,
        )
        listener = await loop.create_server(self._web, sock=self._socket)
        self._started.set()
        await self._stop_requested.wait()
        listener.close()
        await self._drain(self._grace_s)

    async def _drain(self, grace_s: float) -> None:
        # Idle keep-alive connections close now; busy ones once their answer is written.
        self._web.pre_shutdown()
        try:
            async with asyncio.timeout(grace_s):
                await self._web.shutdown(grace_s)
        except TimeoutError:
            pass
        for transport in list(self._web.transports.values()):
            transport.abort()
        self._drained = self.busy == 0

    def stop(self, grace_s: float = 0.0) -> bool:
        """Stop accepting connections, close idle ones, give calls in progress up to `grace_s`
        seconds, then close the rest. True if no call was left running."""
        if self._loop is None or self._thread is None:
            self._socket.close()
            return True
        self._grace_s = grace_s
        assert self._stop_requested is not None
        self._loop.call_soon_threadsafe(self._stop_requested.set)
        self._thread.join(grace_s + 5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return self._drained and self.busy == 0

    # ---- one request -------------------------------------------------------------------------

    def _request_factory(self, message, payload, protocol, writer, task) -> web.BaseRequest:
        return web.BaseRequest(
            message,
            payload,
            protocol,
            writer,
            task,
            asyncio.get_running_loop(),
            client_max_size=self.limits.max_body_bytes,
        )

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Content-Type": content_type, "Server": _SERVER_HEADER}
        if self._enable_cors:
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Allow-Methods"] = "POST, GET"
            headers["Access-Control-Allow-Headers"] = "Content-Type"
        return headers

    async def _send(
        self,
        request: web.BaseRequest,
        status: int,
        payload: bytes,
        content_type: str = _JSON,
        close: bool = False,
    ) -> web.StreamResponse:
        """Write one answer; a client that has not taken it after the write timeout is
        disconnected, so its answer holds memory no longer than that."""
        response = web.StreamResponse(status=status, headers=self._headers(content_type))
        response.content_length = len(payload)
        if close:
            response.force_close()
        try:
            async with asyncio.timeout(self.limits.write_timeout_s):
                await response.prepare(request)
                await response.write_eof(payload)
        except TimeoutError:
            _log(
                f"REST: answer of {len(payload)} bytes to {request.remote} not taken within "
                f"{self.limits.write_timeout_s} s (--pg_rest_write_timeout_seconds); "
                "connection closed"
            )
            if request.transport is not None:
                request.transport.abort()
        if self._verbose:
            _log(f"{request.remote} - {request.method} {request.raw_path} {status}")
        return response

    async def _send_error(self, request: web.BaseRequest, error: _HttpError) -> web.StreamResponse:
        payload = _json_tensor.error_document(error.error.message)
        return await self._send(request, error.status, payload, close=error.close)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        method = request.method
        try:
            if method == "GET" and (route := self._route(path)) is not None:
                status, payload, content_type = route
                return await self._send(request, status, payload, content_type)
            if not _API_PATH.fullmatch(path):
                raise _HttpError(InvalidArgumentError(f"Not found: {method} {path}"), status=404)
            if method == "OPTIONS":
                return await self._preflight(request)
            if method != "POST":  # status and metadata: no TF call, answered here
                answer = self._api.answer(method, path, b"")
                return await self._send(request, answer.status, answer.payload)
            return await self._predict(request, path)
        except _HttpError as e:
            return await self._send_error(request, e)

    def _route(self, path: str) -> tuple[int, bytes, str] | None:
        if path in self._routes:
            return self._routes[path]("")
        for prefix, route in self._routes.items():
            if prefix.endswith("/") and path.startswith(prefix) and len(path) > len(prefix):
                return route(urllib.parse.unquote(path[len(prefix) :]))
        return None

    async def _preflight(self, request: web.BaseRequest) -> web.StreamResponse:
        if _CORS_ORIGIN.search(request.headers.get("Origin", "")):
            return await self._send(request, 200, b"")
        raise _HttpError(FailedPreconditionError("Origin header is missing in CORS preflight"))

    async def _read_body(self, request: web.BaseRequest) -> bytearray:
        limit = self.limits.max_body_bytes
        too_large = f"Expected a request body of at most {limit} bytes (--pg_rest_max_body_bytes). "
        declared = request.content_length
        if declared is not None and declared > limit:
            error = InvalidArgumentError(too_large + f"Received: Content-Length {declared}")
            raise _HttpError(error, status=413, close=True)
        body = bytearray()
        try:
            async with asyncio.timeout(self._timeout_s):
                while chunk := await request.content.readany():
                    if len(body) + len(chunk) > limit:
                        error = InvalidArgumentError(too_large + f"Received: more than {limit}")
                        raise _HttpError(error, status=413, close=True)
                    body += chunk
        except TimeoutError:
            error = InvalidArgumentError(
                f"Request body not received within {self._timeout_s} s (--rest_api_timeout_in_ms)"
            )
            raise _HttpError(error, status=408, close=True) from None
        except (ConnectionError, http_exceptions.HttpProcessingError, ValueError, OSError) as e:
            error = InvalidArgumentError(f"Bad request body: {type(e).__name__}")
            raise _HttpError(error, close=True) from None
        return body

    async def _predict(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        labels = self._api.labels("POST", path)
        start = time.perf_counter()
        try:
            self.gate.enter()
        except UnavailableError as e:
            self._api.observe(labels, e.code, time.perf_counter() - start)
            raise _HttpError(e) from None
        future = None
        try:
            body = await self._read_body(request)
            future = asyncio.get_running_loop().run_in_executor(
                self._pool, self._api.answer, "POST", path, body, self._still_wanted(request)
            )
            # The gate counts this call until its thread is done, even after a 504.
            future.add_done_callback(lambda _: self.gate.leave())
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await asyncio.shield(future)
            except TimeoutError:
                error = DeadlineExceededError("Deadline Exceeded")
                self._api.observe(labels, error.code, time.perf_counter() - start)
                raise _HttpError(error) from None
        finally:
            if future is None:
                self.gate.leave()
        return await self._send(request, answer.status, answer.payload)

    def _still_wanted(self, request: web.BaseRequest) -> Callable[[], bool]:
        transport = request.transport
        deadline = time.monotonic() + self._timeout_s if self._timeout_s else None

        def still_wanted() -> bool:
            if transport is None or transport.is_closing():
                return False
            return deadline is None or time.monotonic() < deadline

        return still_wanted
