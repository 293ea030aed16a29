"""One REST exchange's bounded I/O: the request body read within the size and time limits,
the answer written within the write timeout, and whether the client still waits for it.

What to answer is not decided here (`serving.rest` routes the call to the API that answers
it); only how much a client may send, how long it may take to send it and to take its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import http_exceptions, web, web_protocol

from serving._http_connections import log
from serving._rest_v1 import RestAnswer
from serving.errors import InvalidArgumentError, ServingError

__all__ = ["HttpError", "read_body", "still_wanted", "write_answer"]


class HttpError(Exception):
    """An answer decided before the API saw the call (413, 408, 503, ...)."""

    def __init__(self, error: ServingError, status: int | None = None, close: bool = False):
        super().__init__(error.message)
        self.error = error
        self.status = status or error.http_status
        self.close = close


async def read_body(request: web.BaseRequest, limit: int, timeout_s: float | None) -> bytearray:
    """The body of `request`, decompressed: 413 if it is over `limit` bytes (before a byte is
    read when Content-Length says so), 408 if it is not all there within `timeout_s`."""
    encoded = request.headers.get("Content-Encoding", "identity").lower() != "identity"
    too_large = (
        f"Expected a request body of at most {limit} bytes"
        + (" after decompression" if encoded else "")
        + " (--pg_rest_max_body_bytes). "
    )
    declared = request.content_length
    if declared is not None and declared > limit:
        error = InvalidArgumentError(too_large + f"Received: Content-Length {declared}")
        raise HttpError(error, status=413, close=True)
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            # aiohttp decompresses a gzip/deflate body a bounded piece at a time, so this
            # counts (and stops at) decompressed bytes.
            while chunk := await request.content.readany():
                if len(body) + len(chunk) > limit:
                    error = InvalidArgumentError(too_large + f"Received: more than {limit}")
                    raise HttpError(error, status=413, close=True)
                body += chunk
    except TimeoutError:
        error = InvalidArgumentError(
            f"Request body not received within {timeout_s} s (--rest_api_timeout_in_ms)"
        )
        raise HttpError(error, status=408, close=True) from None
    except (http_exceptions.ContentEncodingError, web_protocol.RequestPayloadError) as e:
        cause = e if isinstance(e, http_exceptions.ContentEncodingError) else e.__cause__
        if not isinstance(cause, http_exceptions.ContentEncodingError):
            raise HttpError(InvalidArgumentError("Bad request body"), close=True) from None
        error = InvalidArgumentError(
            "Expected a request body in its Content-Encoding (gzip, deflate or identity). "
            f"Received: a body that does not decode as {request.headers['Content-Encoding']}"
        )
        raise HttpError(error, close=True) from None
    except (ConnectionError, http_exceptions.HttpProcessingError, ValueError, OSError) as e:
        error = InvalidArgumentError(f"Bad request body: {type(e).__name__}")
        raise HttpError(error, close=True) from None
    return body


async def write_answer(
    request: web.BaseRequest,
    answer: RestAnswer,
    headers: dict[str, str],
    timeout_s: float,
    close: bool = False,
) -> web.StreamResponse:
    """Write one answer; a client that has not taken it after `timeout_s` is disconnected, so
    its answer holds memory no longer than that."""
    response = web.StreamResponse(status=answer.status, headers=headers)
    response.content_length = len(answer.payload)
    if close:
        response.force_close()
    try:
        async with asyncio.timeout(timeout_s):
            await response.prepare(request)
            await response.write_eof(answer.payload)
    except TimeoutError:
        log(
            f"REST: answer of {len(answer.payload)} bytes to {request.remote} not taken "
            f"within {timeout_s} s (--pg_rest_write_timeout_seconds); connection closed"
        )
        if request.transport is not None:
            request.transport.abort()
    return response


def still_wanted(request: web.BaseRequest, timeout_s: float | None) -> Callable[[], bool]:
    """Whether the client of `request` still waits for its answer: connected, and (with a
    `timeout_s`) within that many seconds from now."""
    transport = request.transport
    deadline = time.monotonic() + timeout_s if timeout_s else None

    def wanted() -> bool:
        if transport is None or transport.is_closing():
            return False
        return deadline is None or time.monotonic() < deadline

    return wanted
