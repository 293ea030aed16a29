"""Every canonical error code answers the HTTP status TF Serving's REST server answers.

The table below was read from TF Serving's source, not from serving/errors.py:
`ToHTTPStatusCode` in tensorflow_serving/model_servers/http_server.cc maps each
`error::Code` to a `net_http::HTTPStatusCode`, whose numbers are in
tensorflow_serving/util/net_http/server/public/response_code_enum.h.
"""

import pytest

from serving import errors

TF_SERVING_HTTP_STATUS = {
    "OK": 200,  # OK
    "CANCELLED": 499,  # CLIENT_CLOSED_REQUEST
    "UNKNOWN": 500,  # ERROR
    "INVALID_ARGUMENT": 400,  # BAD_REQUEST
    "DEADLINE_EXCEEDED": 504,  # GATEWAY_TO
    "NOT_FOUND": 404,  # NOT_FOUND
    "ALREADY_EXISTS": 409,  # CONFLICT
    "PERMISSION_DENIED": 403,  # FORBIDDEN
    "RESOURCE_EXHAUSTED": 429,  # TOO_MANY_REQUESTS
    "FAILED_PRECONDITION": 400,  # BAD_REQUEST, not 412 PRECOND_FAILED
    "ABORTED": 409,  # CONFLICT
    "OUT_OF_RANGE": 400,  # BAD_REQUEST
    "UNIMPLEMENTED": 501,  # NOT_IMP
    "INTERNAL": 500,  # ERROR
    "UNAVAILABLE": 503,  # SERVICE_UNAV
    "DATA_LOSS": 500,  # ERROR
    "UNAUTHENTICATED": 401,  # UNAUTHORIZED
}


def test_the_table_names_every_canonical_code():
    assert tuple(TF_SERVING_HTTP_STATUS) == errors.CANONICAL_CODES


@pytest.mark.parametrize(("code", "status"), TF_SERVING_HTTP_STATUS.items())
def test_each_code_answers_tf_servings_status(code, status):
    assert errors.http_status_for_code(code) == status
    error = errors.error_from_code(code, "why")
    assert (error.code, error.message, error.http_status) == (code, "why", status)
    assert errors.ServingError("why", code=code).http_status == status


def test_an_unknown_code_is_an_internal_server_error():
    assert errors.http_status_for_code("NOT_A_CODE") == 500
    error = errors.error_from_code("NOT_A_CODE", "why")
    assert (error.code, error.http_status, str(error)) == ("UNKNOWN", 500, "UNKNOWN: why")
    with pytest.raises(ValueError, match="Received: code='NOT_A_CODE'"):
        errors.ServingError("why", code="NOT_A_CODE")
