"""The REST front end on aiohttp's low-level HTTP server: TF Serving's `/v1/models/...` API
(`serving._rest_v1`) and the Open Inference Protocol's `/v2/...` (`serving._rest_v2`) on one
port. What a client may ask of it is bounded:

- One event-loop thread owns every connection. It reads each request, answers status,
  metadata, health, readiness and metrics itself (none of them touches TF), and writes every
  answer under `--pg_rest_write_timeout_seconds`: a client that does not read its answer is
  cut off then, and never holds a thread meanwhile.
- Predict and infer calls run on `--rest_api_num_threads` threads (the compute slots). At
  most `--pg_max_queued_requests` more may wait for one (their bodies being read or queued);
  the next is answered 503 at once. A slot is free again as soon as its answer is computed.
- Bodies: a Content-Length over `--pg_rest_max_body_bytes` is answered 413 before a byte of
  the body is read; a chunked or compressed body (`Content-Encoding: gzip`, decompressed a
  bounded piece at a time) is read only up to that many bytes *after* decompression, so a
  gzip bomb is refused after at most the limit, never held whole.
- Answers are gzip-compressed (`Content-Encoding: gzip`) when the request's
  `Accept-Encoding` accepts gzip; a predict answer on its compute thread, not the loop.
- Connections: at most `--pg_rest_max_connections` (one more is answered 503 and closed);
  one idle, or sending no complete request, for `--pg_rest_idle_timeout_seconds` is closed.
  TLS when the server is given an SSL context (`--pg_rest_ssl_config_file`).
- The HTTP parser (llhttp) refuses a bad request line, two Content-Length headers or a bad
  chunk size with 400 and closes the connection, so nothing after them can pass for another
  request. Every answer, those included, has a JSON body.

Reading a body and writing an answer within those bounds is `serving._rest_exchange`; here,
the server's life (socket, event loop, drain) and which API answers which path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

from aiohttp import web

from serving import _json_document, _rest_exchange
from serving._http_connections import SERVER_HEADER, WebServer, connection_cap, log
from serving._http_encoding import accepts_gzip, compressed
from serving._rest_exchange import HttpError
from serving._rest_v1 import RestAnswer, RestApi
from serving._rest_v2 import RestV2
from serving.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    UnavailableError,
)
from serving.limits import AdmissionGate, RequestLimits
from serving.manager import ServableManager
from serving.monitoring import Metrics
from serving.options import ServerOptions
from serving.v2 import V2Api

__all__ = ["RestApi", "RestLimits", "RestServer", "Route"]

#: A GET path outside /v1 and /v2 (readiness, Prometheus): the rest of the path after the
#: route's own -> (status, body, content type).
Route = Callable[[str], tuple[int, bytes, str]]

_V1_PATH = re.compile(r"/v1/.*", re.IGNORECASE)
_CORS_ORIGIN = re.compile(r"https?://")

#: The command line's defaults (TF Serving's for its own flags): a server made here without
#: arguments answers as `pg-model-server` started without flags.
_FLAGS = ServerOptions()


@dataclasses.dataclass(frozen=True)
class RestLimits:
    """What connections may ask of the REST server (the `--pg_rest_*` flags)."""

    max_body_bytes: int = _FLAGS.pg_rest_max_body_bytes
    max_connections: int = _FLAGS.pg_rest_max_connections
    idle_timeout_s: float = _FLAGS.pg_rest_idle_timeout_seconds
    write_timeout_s: float = _FLAGS.pg_rest_write_timeout_seconds
    max_queued_requests: int = _FLAGS.pg_max_queued_requests

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(
                    f"Expected {field.name} > 0. Received: {field.name}={getattr(self, field.name)}"
                )


class RestServer:
    """The REST APIs on `host:port` (port 0 picks a free one; see `.port`).

    `routes` answer GET paths outside /v1 and /v2 (readiness, Prometheus): a key ending in
    "/" takes every path under it, the route getting the rest. `v2` serves the Open
    Inference Protocol under /v2 (without it /v2 paths are 404). `ssl_context` makes it
    HTTPS.
    """

    def __init__(
        self,
        manager: ServableManager,
        host: str = _FLAGS.bind_address,
        port: int = _FLAGS.rest_api_port,
        num_threads: int = _FLAGS.rest_api_num_threads,
        timeout_in_ms: int = _FLAGS.rest_api_timeout_in_ms,
        enable_cors: bool = _FLAGS.rest_api_enable_cors_support,
        check_method_name: bool = _FLAGS.enable_signature_method_name_check,
        verbose: bool = _FLAGS.verbose,
        metrics: Metrics | None = None,
        routes: Mapping[str, Route] | None = None,
        limits: RestLimits | None = None,
        request_limits: RequestLimits | None = None,
        v2: V2Api | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if num_threads < 1:
            raise ValueError(f"Expected `num_threads` >= 1. Received: num_threads={num_threads}")
        self._api = RestApi(manager, check_method_name, metrics, request_limits)
        self._v2 = RestV2(v2, metrics) if v2 is not None else None
        self._timeout_s = timeout_in_ms / 1000.0 if timeout_in_ms > 0 else None
        self._enable_cors = enable_cors
        self._verbose = verbose
        self._routes = dict(routes or {})
        self.limits = limits or RestLimits()
        self._ssl_context = ssl_context
        self._max_connections = connection_cap(self.limits.max_connections)
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
        self._web = WebServer(
            self._handle,
            max_connections=self._max_connections,
            request_factory=self._request_factory,
            keepalive_timeout=self.limits.idle_timeout_s,
            lingering_time=1.0,
            access_log=None,
        )
        listener = await loop.create_server(
            self._web,
            sock=self._socket,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self.limits.idle_timeout_s if self._ssl_context else None,
        )
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

    def _headers(self, answer: RestAnswer) -> dict[str, str]:
        headers = {"Content-Type": answer.content_type, "Server": SERVER_HEADER}
        headers.update(answer.headers)
        if self._enable_cors:
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Allow-Methods"] = "POST, GET"
            headers["Access-Control-Allow-Headers"] = "Content-Type"
        return headers

    async def _send(
        self, request: web.BaseRequest, answer: RestAnswer, close: bool = False
    ) -> web.StreamResponse:
        headers = self._headers(answer)
        response = await _rest_exchange.write_answer(
            request, answer, headers, self.limits.write_timeout_s, close
        )
        if self._verbose:
            log(f"{request.remote} - {request.method} {request.raw_path} {answer.status}")
        return response

    async def _send_error(self, request: web.BaseRequest, error: HttpError) -> web.StreamResponse:
        payload = _json_document.error_document(error.error.message)
        answer = RestAnswer(error.status, payload, error.error.code)
        return await self._send(request, answer, close=error.close)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        method = request.method
        gzip_wanted = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        try:
            if method == "GET" and (route := self._route(path)) is not None:
                status, payload, content_type = route
                answer = RestAnswer(status, payload, "OK", content_type)
                return await self._send(request, compressed(answer, gzip_wanted))
            if self._v2 is not None and self._v2.owns(path):
                return await self._handle_v2(request, method, path, gzip_wanted)
            if not _V1_PATH.fullmatch(path):
                raise HttpError(InvalidArgumentError(f"Not found: {method} {path}"), status=404)
            if method == "OPTIONS":
                return await self._preflight(request)
            if method != "POST":  # status and metadata: no TF call, answered here
                answer = self._api.answer(method, path, b"")
                return await self._send(request, compressed(answer, gzip_wanted))
            labels = self._api.labels("POST", path)

            def predict(body: bytes, still_wanted: Callable[[], bool]) -> RestAnswer:
                return compressed(self._api.answer("POST", path, body, still_wanted), gzip_wanted)

            return await self._compute(request, labels, predict)
        except HttpError as e:
            return await self._send_error(request, e)

    async def _handle_v2(
        self, request: web.BaseRequest, method: str, path: str, gzip_wanted: bool
    ) -> web.StreamResponse:
        assert self._v2 is not None
        if method == "OPTIONS":
            return await self._preflight(request)
        if method != "POST" or not self._v2.is_infer(path):  # health, metadata: no TF call
            answer = self._v2.answer(method, path, request.headers, b"")
            return await self._send(request, compressed(answer, gzip_wanted))
        headers = request.headers

        def infer(body: bytes, still_wanted: Callable[[], bool]) -> RestAnswer:
            answer = self._v2.answer(method, path, headers, body, still_wanted)
            return compressed(answer, gzip_wanted)

        return await self._compute(request, self._v2.labels(path), infer)

    def _route(self, path: str) -> tuple[int, bytes, str] | None:
        if path in self._routes:
            return self._routes[path]("")
        for prefix, route in self._routes.items():
            if prefix.endswith("/") and path.startswith(prefix) and len(path) > len(prefix):
                return route(urllib.parse.unquote(path[len(prefix) :]))
        return None

    async def _preflight(self, request: web.BaseRequest) -> web.StreamResponse:
        if _CORS_ORIGIN.search(request.headers.get("Origin", "")):
            return await self._send(request, RestAnswer(200, b"", "OK"))
        raise HttpError(FailedPreconditionError("Origin header is missing in CORS preflight"))

    async def _compute(
        self,
        request: web.BaseRequest,
        labels: Mapping[str, str],
        compute: Callable[[bytes, Callable[[], bool]], RestAnswer],
    ) -> web.StreamResponse:
        """Admit a call, read its body, and answer it with `compute(body, still_wanted)` on a
        compute slot, within --rest_api_timeout_in_ms."""
        start = time.perf_counter()
        try:
            self.gate.enter()
        except UnavailableError as e:
            self._api.observe(labels, e.code, time.perf_counter() - start)
            raise HttpError(e) from None
        future = None
        try:
            body = await _rest_exchange.read_body(
                request, self.limits.max_body_bytes, self._timeout_s
            )
            still_wanted = _rest_exchange.still_wanted(request, self._timeout_s)
            future = asyncio.get_running_loop().run_in_executor(
                self._pool, compute, body, still_wanted
            )
            # The gate counts this call until its thread is done, even after a 504.
            future.add_done_callback(lambda _: self.gate.leave())
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await asyncio.shield(future)
            except TimeoutError:
                error = DeadlineExceededError("Deadline Exceeded")
                self._api.observe(labels, error.code, time.perf_counter() - start)
                raise HttpError(error) from None
        finally:
            if future is None:
                self.gate.leave()
        return await self._send(request, answer)
