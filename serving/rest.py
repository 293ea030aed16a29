"""The REST front end: TF Serving's `/v1/models/...` API over the standard library HTTP server.

Paths, status codes and error texts follow tensorflow_serving/model_servers/
http_rest_api_handler.cc and http_rest_api_util.cc. Each connection gets a thread (cheap, and
idle keep-alive connections then hold nothing), while a semaphore bounds how many requests are
processed at once to `--rest_api_num_threads`, like the real server's executor.
"""

from __future__ import annotations

import contextlib
import http.server
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import _json_tensor, _responses
from serving._deadline import DeadlineWatcher
from serving.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ServingError,
    UnimplementedError,
)
from serving.manager import ServableManager
from serving.monitoring import Metrics

__all__ = ["RestServer", "Route"]

Route = Callable[[], tuple[int, bytes, str]]

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


class RestApi:
    """Answers one REST call: (method, path, body) -> (HTTP status, JSON body)."""

    def __init__(
        self,
        manager: ServableManager,
        timeout_in_ms: int = 30000,
        check_method_name: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self._manager = manager
        self._timeout_s = timeout_in_ms / 1000.0 if timeout_in_ms > 0 else None
        self._deadlines = DeadlineWatcher()
        self._check_method_name = check_method_name
        self._metrics = metrics

    def answer(
        self, method: str, path: str, body: bytes, reply: Callable[[int, bytes], None]
    ) -> None:
        """Answer one call through `reply(status, body)`, called exactly once: with the
        result, or with DEADLINE_EXCEEDED when `--rest_api_timeout_in_ms` passes first (the
        computation then finishes on this thread and its result is dropped)."""
        start = time.perf_counter()
        request: dict[str, str] = {}  # model name and API, once the path says them

        def observe(code: str) -> None:
            if self._metrics is not None and request:
                self._metrics.observe_request(
                    request["model"], request["api"], "REST", code, time.perf_counter() - start
                )

        def expire() -> None:
            error = DeadlineExceededError("Deadline Exceeded")
            observe(error.code)
            with contextlib.suppress(OSError):  # the client left: no one to answer
                reply(error.http_status, _json_tensor.error_document(error.message))

        ticket = None
        if self._timeout_s is not None:
            ticket = self._deadlines.watch(self._timeout_s, expire)
        code = "OK"
        try:
            status, payload = 200, self._dispatch(method, path, body, request)
        except ServingError as e:
            code, status, payload = e.code, e.http_status, _json_tensor.error_document(e.message)
        except Exception as e:  # noqa: BLE001 - a bad request must never take the server down
            error = InternalError(f"{type(e).__name__}: {e}")
            code, status = error.code, error.http_status
            payload = _json_tensor.error_document(error.message)
        if ticket is None or ticket.finish():
            observe(code)
            reply(status, payload)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """`answer` for a caller without a connection: (HTTP status, JSON body)."""
        replies: list[tuple[int, bytes]] = []
        self.answer(method, path, body, lambda status, payload: replies.append((status, payload)))
        return replies[0]

    def _dispatch(self, method: str, path: str, body: bytes, request: dict[str, str]) -> bytes:
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
                return self._predict(name, version, label, body)
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

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
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
        outputs = servable.run(signature_name, inputs, check_method_name=self._check_method_name)
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


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, a client's delayed ACK holds the
    # body back ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.send_error(400, "Bad request body")
            return
        path = urllib.parse.urlsplit(self.path).path
        route = self.server.routes.get(path) if self.command == "GET" else None
        if route is not None:
            status, payload, content_type = route()
            self._reply(status, payload, content_type)
            return
        if not _API_PATH.fullmatch(path):
            self._reply(404, b"Not Found", "text/plain")
            return
        with self.server.slots:
            if self.command == "OPTIONS":
                if _CORS_ORIGIN.search(self.headers.get("Origin", "")):
                    status, payload = 200, b""
                else:
                    error = FailedPreconditionError("Origin header is missing in CORS preflight")
                    status, payload = error.http_status, _json_tensor.error_document(error.message)
            else:
                self.server.api.answer(
                    self.command,
                    path,
                    body,
                    lambda status, payload: self._reply(status, payload, "application/json"),
                )
                return
        self._reply(status, payload, "application/json")

    def _reply(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.server.enable_cors:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST, GET")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
        # Headers and body leave in one write (what end_headers would flush, then the body):
        # one segment for the client to wait on instead of two.
        buffered = getattr(self, "_headers_buffer", [])
        if self.request_version != "HTTP/0.9":
            buffered.append(b"\r\n")
        self._headers_buffer = []
        self.wfile.write(b"".join([*buffered, payload]))

    def _serve_counted(self) -> None:
        with self.server.inflight:
            self.server.inflight_count += 1
        try:
            self._serve()
        finally:
            with self.server.inflight:
                self.server.inflight_count -= 1
                self.server.inflight.notify_all()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve_counted  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections under a burst of clients.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        api: RestApi,
        num_threads: int,
        enable_cors: bool,
        verbose: bool,
        routes: Mapping[str, Route],
    ) -> None:
        self.api = api
        self.slots = threading.BoundedSemaphore(num_threads)
        self.enable_cors = enable_cors
        self.verbose = verbose
        self.routes = dict(routes)
        self.inflight = threading.Condition()
        self.inflight_count = 0
        super().__init__(address, _Handler)


class RestServer:
    """The REST API on `host:port` (port 0 picks a free one; see `.port`).

    `routes` answer GET paths outside /v1 (readiness, Prometheus): path -> () ->
    (status, body, content type).
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
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"Expected `num_threads` >= 1. Received: num_threads={num_threads}")
        api = RestApi(manager, timeout_in_ms, check_method_name, metrics)
        self._httpd = _HTTPServer(
            (host, port), api, num_threads, enable_cors, verbose, routes or {}
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="serving-rest", daemon=True
        )
        self._thread.start()

    def stop(self, grace_s: float = 0.0) -> None:
        """Stop accepting connections, then wait up to `grace_s` for requests in progress."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        with self._httpd.inflight:
            self._httpd.inflight.wait_for(lambda: self._httpd.inflight_count == 0, grace_s)
