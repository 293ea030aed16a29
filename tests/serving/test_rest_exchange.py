"""One REST exchange's bounded I/O alone (no server): a body over the limit is 413 (before a
byte is read when Content-Length says so), one not all there in time is 408, one that does
not decode is 400, each closing the connection; an answer not taken in time cuts the client
off; and whether a client still waits for its answer."""

from __future__ import annotations

import asyncio
import time
import types
from unittest import mock

import pytest
from aiohttp import http_exceptions, web_protocol
from aiohttp.test_utils import make_mocked_request

from serving._rest_exchange import HttpError, read_body, still_wanted, write_answer
from serving._rest_v1 import RestAnswer
from serving.errors import InvalidArgumentError, UnavailableError


class Body:
    """A request body arriving in `chunks`; `then` is raised (or, if "hang", awaited
    forever) after the last one."""

    def __init__(self, chunks: list[bytes], then: BaseException | str | None = None) -> None:
        self.chunks, self.then, self.read = list(chunks), then, 0

    async def readany(self) -> bytes:
        if self.chunks:
            self.read += 1
            return self.chunks.pop(0)
        if self.then == "hang":
            await asyncio.Event().wait()
        if isinstance(self.then, BaseException):
            raise self.then
        return b""


def request(body: Body, length: int | None = None, encoding: str | None = None):
    headers = {"Content-Encoding": encoding} if encoding else {}
    return types.SimpleNamespace(headers=headers, content_length=length, content=body)


def refusal(body: Body, limit: int = 10, timeout_s: float | None = None, **kwargs) -> HttpError:
    with pytest.raises(HttpError) as caught:
        asyncio.run(read_body(request(body, **kwargs), limit, timeout_s))
    return caught.value


def test_a_body_up_to_the_limit_is_read_whole_from_its_pieces():
    body = Body([b"0123", b"456789"])
    assert asyncio.run(read_body(request(body, length=10), 10, 5.0)) == b"0123456789"
    chunked = Body([b"01234", b"56789"])
    assert asyncio.run(read_body(request(chunked), 10, None)) == b"0123456789"
    assert asyncio.run(read_body(request(Body([])), 10, 0.5)) == b""


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read():
    body = Body([b"x" * 11])
    error = refusal(body, length=11)
    assert (error.status, error.close, body.read) == (413, True, 0)
    assert error.error.message == (
        "Expected a request body of at most 10 bytes (--pg_rest_max_body_bytes). "
        "Received: Content-Length 11"
    )


def test_a_body_that_grows_over_the_limit_is_413_once_it_does():
    body = Body([b"x" * 6, b"x" * 5, b"never read"])
    error = refusal(body, encoding="gzip")
    assert (error.status, error.close, body.read) == (413, True, 2)
    assert error.error.message == (
        "Expected a request body of at most 10 bytes after decompression "
        "(--pg_rest_max_body_bytes). Received: more than 10"
    )
    plain = refusal(Body([b"x" * 11]), encoding="IDENTITY")
    assert "at most 10 bytes (--pg_rest" in plain.error.message


def test_a_body_not_all_there_in_time_is_408():
    start = time.monotonic()
    error = refusal(Body([b"{"], then="hang"), timeout_s=0.1)
    assert time.monotonic() - start < 30
    assert (error.status, error.close) == (408, True)
    assert error.error.message == (
        "Request body not received within 0.1 s (--rest_api_timeout_in_ms)"
    )


def test_a_body_that_does_not_decode_is_400_naming_its_encoding():
    bad = http_exceptions.ContentEncodingError("bad gzip")
    for failure in (bad, _payload_error(cause=bad)):
        error = refusal(Body([], then=failure), encoding="gzip")
        assert (error.status, error.close) == (400, True)
        assert error.error.message == (
            "Expected a request body in its Content-Encoding (gzip, deflate or identity). "
            "Received: a body that does not decode as gzip"
        )
    error = refusal(Body([], then=_payload_error(cause=None)))
    assert (error.status, error.close, error.error.message) == (400, True, "Bad request body")


def _payload_error(cause: BaseException | None) -> web_protocol.RequestPayloadError:
    error = web_protocol.RequestPayloadError("payload")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("failure", "name"),
    [
        (ConnectionResetError(), "ConnectionResetError"),
        (http_exceptions.TransferEncodingError("chunk"), "TransferEncodingError"),
        (ValueError("x"), "ValueError"),
    ],
)
def test_a_broken_body_is_400_naming_the_failure(failure, name):
    error = refusal(Body([b"1"], then=failure))
    assert (error.status, error.close) == (400, True)
    assert error.error.message == f"Bad request body: {name}"


def test_an_http_error_takes_its_errors_status_unless_given_one():
    error = HttpError(UnavailableError("busy"))
    assert (error.status, error.close, str(error)) == (503, False, "busy")
    assert HttpError(InvalidArgumentError("big"), status=413, close=True).status == 413


class Transport:
    def __init__(self, closing: bool = False) -> None:
        self.closing, self.aborted = closing, False

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = True


def test_a_client_is_wanted_while_connected_and_within_its_timeout():
    def wanted(transport, timeout_s):
        return still_wanted(types.SimpleNamespace(transport=transport), timeout_s)

    assert wanted(Transport(), None)() and wanted(Transport(), 0)()  # 0: no timeout
    assert not wanted(None, None)()
    assert not wanted(Transport(closing=True), None)()
    brief = wanted(Transport(), 0.05)
    assert brief()
    time.sleep(0.1)
    assert not brief()
    assert wanted(Transport(), 60)()


def test_an_answer_is_written_with_its_status_length_and_headers():
    req = make_mocked_request("POST", "/v1/models/m:predict")
    answer = RestAnswer(201, b'{"a": 1}', "OK")
    response = asyncio.run(write_answer(req, answer, {"X-Test": "1"}, 5.0, close=True))
    assert response.status == 201 and response.content_length == 8
    assert response.headers["X-Test"] == "1" and not response.keep_alive
    writer = req._payload_writer
    (status_line, headers), _ = writer.write_headers.call_args
    assert status_line.startswith("HTTP/1.1 201") and headers["Content-Length"] == "8"
    assert writer.write_eof.call_args.args[0] == b'{"a": 1}'
    kept = make_mocked_request("GET", "/v1/models/m")
    assert asyncio.run(write_answer(kept, answer, {}, 5.0)).keep_alive


def test_an_answer_not_taken_in_time_cuts_the_client_off(capfd):
    async def stuck(*args, **kwargs):
        await asyncio.Event().wait()

    writer = mock.Mock()
    writer.write_headers = stuck
    transport = mock.Mock()
    req = make_mocked_request("GET", "/v1/models/m", writer=writer, transport=transport)
    answer = RestAnswer(200, b"x" * 7, "OK")
    start = time.monotonic()
    asyncio.run(write_answer(req, answer, {}, 0.1))
    assert time.monotonic() - start < 30
    transport.abort.assert_called_once_with()
    err = capfd.readouterr().err
    assert "REST: answer of 7 bytes to" in err
    assert "not taken within 0.1 s (--pg_rest_write_timeout_seconds); connection closed" in err
