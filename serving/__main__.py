"""`python -m serving` / `pg-model-server`: run the model server until interrupted.

Two subcommands sit beside the server's flags (which all start with `--`):

    pg-model-server query NAME --server URL --input events.npy   (`serving.query`)
    pg-model-server bench [--concurrency N ...]                  (`serving.benchmarks`)
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from serving.flags import UsageError, parse_flags

__all__ = ["main"]

_VERSION = "pg-model-server 0.1.0 (TensorFlow Serving and Open Inference Protocol REST/gRPC APIs)"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, load models, serve (or run `query` / `bench`). Returns 2 on a bad
    command line, 1 on start-up failure and 0 after a clean shutdown (SIGINT or SIGTERM)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["query"]:
        from serving.query import main as query_main

        return query_main(argv[1:])
    if argv[:1] == ["bench"]:
        from serving.benchmarks import main as bench_main

        return bench_main(argv[1:])
    try:
        options = parse_flags(argv)
    except UsageError as e:
        print(f"pg-model-server: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    if options is None:
        print(_VERSION)
        return 0

    # Imported here so that flag errors and --help answer without loading TensorFlow.
    from serving.errors import ServingError
    from serving.server import ModelServer

    try:
        server = ModelServer(options)
        server.start()
    except (ServingError, ValueError, OSError, RuntimeError) as e:
        print(f"Failed to start server. Error: {e}", file=sys.stderr)
        return 1
    print(
        f"Running gRPC ModelServer at {options.bind_address}:{server.grpc_port} ...",
        file=sys.stderr,
    )
    if server.rest_port is not None:
        print(
            f"Exporting HTTP/REST API at:{options.bind_address}:{server.rest_port} ...",
            file=sys.stderr,
        )
    sys.stderr.flush()

    drained = []

    def shutdown(signum: int, frame: object) -> None:
        # Requests in progress get --pg_drain_seconds to finish before the process exits.
        drained.append(server.stop(grace_s=options.pg_drain_seconds))

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    server.wait()
    if drained and not drained[0]:
        # A TF call cannot be stopped, and Python would wait for its thread at exit.
        print(
            f"Requests still running after --pg_drain_seconds={options.pg_drain_seconds}; "
            "exiting without them",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
