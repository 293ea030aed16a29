"""gzip for REST answers: whether a request accepts it, and an answer compressed for it.

(Request bodies in gzip are decompressed by aiohttp's parser, a bounded piece at a time;
`serving._rest_exchange` counts the decompressed bytes against the body limit.)
"""

from __future__ import annotations

import dataclasses
import gzip

from serving._rest_v1 import RestAnswer

__all__ = ["accepts_gzip", "compressed"]

# Fastest gzip level: answers are mostly float arrays, which level 9 shrinks little more.
_GZIP_LEVEL = 1


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip (`gzip`, `x-gzip` or `*`, q > 0)."""
    for item in accept_encoding.split(","):
        token, _, params = item.strip().partition(";")
        if token.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = params.strip().lower()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def compressed(answer: RestAnswer, gzip_wanted: bool) -> RestAnswer:
    if not gzip_wanted or not answer.payload:
        return answer
    return dataclasses.replace(
        answer,
        payload=gzip.compress(answer.payload, compresslevel=_GZIP_LEVEL, mtime=0),
        headers=(*answer.headers, ("Content-Encoding", "gzip")),
    )
