"""A REST request's JSON document, alone (no server): what parses, what is refused and how
the refusal reads, the `signature_name`, and the `{"error": ...}` body."""

from __future__ import annotations

import json
import math

import pytest

from serving._json_document import (
    debug_string,
    error_document,
    parse_document,
    signature_name_of,
)
from serving.errors import InvalidArgumentError


def test_finite_numbers_beside_nan_tokens_keep_their_values():
    # NaN/Infinity tokens are not strict JSON, so this document takes the fallback parser.
    doc = parse_document(b'{"inputs": [NaN, 1.5, -Infinity, 0.25, 2]}')
    values = doc["inputs"]
    assert math.isnan(values[0]) and values[2] == -math.inf
    assert values[1:2] + values[3:] == [1.5, 0.25, 2]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b'{"inputs": [1e400]}', "JSON Parse error: Number too big to be stored in double: 1e400"),
        (b'{"inputs": [NaN, -1e400]}', "Number too big to be stored in double: -1e400"),
        (b'{"inputs": [' + b"7" * 4400 + b"]}", "more than 4300 digits"),
        (b'{"inputs": ' + b"[" * 1100 + b"]" * 1100 + b"}", "nested too deeply"),
        (b'{"inputs": "\xff"}', "JSON Parse error: Invalid encoding in string."),
        (b'{"inputs": [1, 2}', "JSON Parse error: "),
        (b"[1, 2]", "JSON Value: [1,2] Is not object"),
    ],
    ids=["empty", "1e400", "-1e400-after-nan", "long-integer", "nesting", "utf8", "syntax", "list"],
)
def test_bad_documents_are_refused_with_the_reason(body, message):
    with pytest.raises(InvalidArgumentError) as info:
        parse_document(body)
    assert message in info.value.message


def test_signature_name_is_empty_when_absent_and_must_be_a_string():
    assert signature_name_of({"inputs": [1]}) == ""
    assert signature_name_of({"signature_name": "refine"}) == "refine"
    with pytest.raises(InvalidArgumentError, match="'signature_name' key must be a string"):
        signature_name_of({"signature_name": 3})


def test_an_error_body_is_a_json_object_with_the_message():
    assert json.loads(error_document('bad "x"')) == {"error": 'bad "x"'}


def test_values_quoted_in_errors_are_compact_and_bounded():
    # A bad request of a megabyte must not come back as a megabyte of error message.
    assert debug_string([1, {"a": None}]) == '[1,{"a":null}]'
    long = list(range(1000))
    assert debug_string(long) == json.dumps(long, separators=(",", ":"))[:256]
