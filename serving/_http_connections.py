"""The REST server's connections: aiohttp's handler with JSON error bodies, a connection cap
fitted under the file limit, and the refusal a connection over the cap gets."""

from __future__ import annotations

import asyncio
import resource
import sys

from aiohttp import web, web_protocol

from serving import _json_document

__all__ = ["JSON", "SERVER_HEADER", "WebServer", "connection_cap", "log"]

JSON = "application/json"
# Names no software version: the real server's REST answers carry no Server header at all,
# and aiohttp would otherwise add its own and Python's versions.
SERVER_HEADER = "pg-model-server"
# File descriptors kept free for the gRPC server, model files and logs when the connection cap
# is fitted under the process's limit.
_RESERVED_FDS = 128


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = _json_document.error_document(message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {JSON}\r\nContent-Length: {len(body)}\r\n"
        f"Server: {SERVER_HEADER}\r\nConnection: close\r\n\r\n"
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
            log(f"REST: {type(exc).__name__ if exc else 'error'} {exc or message}")
            text = "Internal error while answering the request"
        else:
            # The parser's message, without the echo of the offending line under it.
            text = f"Bad HTTP request: {str(message or status).splitlines()[0].rstrip(':')}"
        response = web.Response(
            status=status,
            body=_json_document.error_document(text),
            content_type=JSON,
            headers={"Server": SERVER_HEADER},
        )
        response.force_close()
        return response


class WebServer(web.Server):
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


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer if the process may not open that many files: at the descriptor limit
    accept() fails and the port is as good as closed."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted + _RESERVED_FDS <= soft:
        return wanted
    fitted = max(1, soft - _RESERVED_FDS)
    log(
        f"--pg_rest_max_connections={wanted} lowered to {fitted}: the process may open only "
        f"{soft} files (ulimit -n)"
    )
    return fitted
