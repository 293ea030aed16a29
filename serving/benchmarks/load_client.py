"""A load-generating gRPC client: its own process, one channel, requests as bytes.

No GIL is shared with other clients or with the benchmark; the request is sent as
pre-serialised bytes and the answer kept as bytes, so that each call costs the client
as little Python as gRPC allows and the measurement is of the server.

Protocol on stdin/stdout: the request's bytes, length-prefixed (4 bytes, little
endian), in; "ready" out after three warm-up calls; then for each line "COUNT" in,
that many calls and their `[start, end]` times out as one JSON line
(`time.perf_counter` is CLOCK_MONOTONIC, one clock for all the client processes).
End of input ends the client.

    python -m serving.benchmarks.load_client --port=N
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]

_METHOD = "/tensorflow.serving.PredictionService/Predict"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.benchmarks.load_client")
    parser.add_argument("--port", type=int, required=True, help="the server's gRPC port")
    args = parser.parse_args(argv)
    import grpc

    size = struct.unpack("<I", sys.stdin.buffer.read(4))[0]
    request = sys.stdin.buffer.read(size)
    channel = grpc.insecure_channel(f"127.0.0.1:{args.port}")
    predict = channel.unary_unary(_METHOD)
    for _ in range(3):
        predict(request, timeout=120)
    print("ready", flush=True)
    for line in sys.stdin:
        calls = []
        for _ in range(int(line)):
            start = time.perf_counter()
            predict(request, timeout=120)
            calls.append((start, time.perf_counter()))
        print(json.dumps(calls), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
