"""Canonical error codes shared by the server, its transports and the client.

The server raises these from any layer; the REST and gRPC front ends translate them to an HTTP
status or a gRPC status. The client raises the same classes, so a caller sees one exception
type whichever transport it used. This module imports neither TensorFlow nor gRPC.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL_CODES",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "ResourceExhaustedError",
    "ServingError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "error_from_code",
    "http_status_for_code",
]

# Names as grpc.StatusCode spells them, in the numeric order of google.rpc.Code.
CANONICAL_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)

# The table of tensorflow_serving/model_servers/http_server.cc (ToHTTPStatusCode).
_HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def http_status_for_code(code: str) -> int:
    """HTTP status the real model server answers for a canonical code (500 if unknown)."""
    return _HTTP_STATUS.get(code, 500)


class ServingError(Exception):
    """An error with a canonical code (`"NOT_FOUND"`, ...) and the server's message."""

    code = "UNKNOWN"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            if code not in CANONICAL_CODES:
                raise ValueError(
                    f"Expected `code` to be a canonical code name such as 'NOT_FOUND'. "
                    f"Received: code={code!r}"
                )
            self.code = code

    @property
    def http_status(self) -> int:
        return http_status_for_code(self.code)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidArgumentError(ServingError):
    code = "INVALID_ARGUMENT"


class FailedPreconditionError(ServingError):
    code = "FAILED_PRECONDITION"


class NotFoundError(ServingError):
    code = "NOT_FOUND"


class UnavailableError(ServingError):
    code = "UNAVAILABLE"


class DeadlineExceededError(ServingError):
    code = "DEADLINE_EXCEEDED"


class ResourceExhaustedError(ServingError):
    code = "RESOURCE_EXHAUSTED"


class UnimplementedError(ServingError):
    code = "UNIMPLEMENTED"


class InternalError(ServingError):
    code = "INTERNAL"


class UnknownError(ServingError):
    code = "UNKNOWN"


_CLASS_FOR_CODE = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        FailedPreconditionError,
        NotFoundError,
        UnavailableError,
        DeadlineExceededError,
        ResourceExhaustedError,
        UnimplementedError,
        InternalError,
        UnknownError,
    )
}


def error_from_code(code: str, message: str) -> ServingError:
    """The most specific `ServingError` subclass for `code`, carrying `message`."""
    cls = _CLASS_FOR_CODE.get(code)
    if cls is not None:
        return cls(message)
    if code not in CANONICAL_CODES:
        code = "UNKNOWN"
    return ServingError(message, code=code)
