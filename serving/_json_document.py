"""A REST request's JSON document: parsed as the real server's parser (rapidjson) would, its
`signature_name`, and the `{"error": ...}` answer; values quoted in errors the real server's way.
"""

from __future__ import annotations

import json
import math

import orjson

from serving.errors import InvalidArgumentError

_MAX_DEBUG_CHARS = 256


def debug_string(value: object) -> str:
    """`value` as compact JSON for an error message, cut to its first 256 characters.

    The real server quotes the whole value (TF Serving's JsonValueToString does not cut it);
    ours cuts it so that a many-megabyte bad value does not come back as a many-megabyte error.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=True, default=str)
    except (RecursionError, ValueError):  # nested too deeply, or a number too long to print
        return "<value too deep or too long to print>"
    return text[:_MAX_DEBUG_CHARS]


class _NumberTooBigError(ValueError):
    pass


def _finite_float(text: str) -> float:
    # JSON's number grammar has no infinity: `1e400` overflows a double, which the real
    # server's parser (rapidjson) refuses; NaN/Infinity tokens are parse_constant's.
    value = float(text)
    if math.isinf(value):
        raise _NumberTooBigError(
            f"Number too big to be stored in double: {text[:_MAX_DEBUG_CHARS]}"
        )
    return value


def parse_document(body: bytes) -> dict:
    """Parse a request body into its top-level JSON object (NaN/Infinity tokens allowed)."""
    if not body:
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    try:
        # orjson is strict JSON: NaN/Infinity tokens, integers beyond 64 bits, numbers beyond
        # a double, nesting past 1024 and invalid UTF-8 fall through to the standard parser,
        # whose messages the errors quote.
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    try:
        if doc is None:
            doc = json.loads(body, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        raise InvalidArgumentError(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except UnicodeDecodeError as e:
        raise InvalidArgumentError(f"JSON Parse error: Invalid encoding in string. {e}") from None
    except RecursionError:
        raise InvalidArgumentError(
            "JSON Parse error: the document is nested too deeply (more than about 1000 levels)"
        ) from None
    except _NumberTooBigError as e:
        raise InvalidArgumentError(f"JSON Parse error: {e}") from None
    except ValueError:  # an integer past the standard parser's 4300 digits
        raise InvalidArgumentError(
            "JSON Parse error: Number too big to be stored in int64 or double (an integer of "
            "more than 4300 digits)"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidArgumentError(f"JSON Value: {debug_string(doc)} Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    """The request's `signature_name`, or "" when absent (the caller applies the default)."""
    if "signature_name" not in doc:
        return ""
    name = doc["signature_name"]
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    return name


def error_document(message: str) -> bytes:
    """The body of an error answer: `{"error": message}`."""
    return json.dumps({"error": message}).encode("utf-8")
