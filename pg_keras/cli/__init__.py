"""`pg-keras`: list problems and rules, train, compare, solve per event, export, reproduce.

Every user error (unknown problem or rule, a non-positive number, an unwritable
log directory) is one line on stderr naming what was received and what is
allowed, with exit code 2 and no traceback; a computation that stops with an
error (a solver that did not converge, training that kept going non-finite) is
one line with exit code 1. Problems are registered names or `MODULE:CLASS`
importable from the current directory (see `pg_keras.problems`).

The model server's own commands live on its side: `pg-model-server query` and
`pg-model-server bench` (or `python -m serving query|bench`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from pg_keras.cli._args import UsageError  # noqa: E402
from pg_keras.cli._parser import build_parser  # noqa: E402
from pg_keras.cli._reproduce import run_reproduce  # noqa: E402
from pg_keras.cli._runs import run_bench_train, run_calibrate, run_export  # noqa: E402
from pg_keras.cli._solving import run_solve  # noqa: E402
from pg_keras.cli._training import list_problems, run_compare, run_train  # noqa: E402
from pg_keras.training.run import NonFiniteTrainingError  # noqa: E402

__all__ = ["build_parser", "main"]

COMMANDS = {
    "list": list_problems,
    "train": run_train,
    "compare": run_compare,
    "solve": run_solve,
    "bench-train": run_bench_train,
    "export": run_export,
    "calibrate": run_calibrate,
    "reproduce": run_reproduce,
}

#: Commands that moved to the model server's side, so that pg_keras never imports it.
MOVED = {
    "query": "pg-model-server query (or python -m serving query)",
    "bench-serving": "pg-model-server bench (or python -m serving bench)",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in MOVED:
        print(
            f"pg-keras {argv[0]} moved to the model server's side: run "
            f"{MOVED[argv[0]]} with the same arguments",
            file=sys.stderr,
        )
        return 2
    try:
        args = build_parser(__doc__.splitlines()[0]).parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"pg-keras: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteTrainingError as error:
        print(f"pg-keras: {error}", file=sys.stderr)
        return 1
    except tf.errors.InvalidArgumentError as error:
        print(f"pg-keras: error: {_assertion(error)}", file=sys.stderr)
        return 1


def _assertion(error: tf.errors.OpError) -> str:
    """The line of a TF error that says what failed (an assertion's message), not the
    graph's node names."""
    lines = [line.strip() for line in str(error.message).splitlines() if line.strip()]
    found = next((line for line in lines if "assertion failed" in line), None)
    return found or (lines[0] if lines else type(error).__name__)


if __name__ == "__main__":
    sys.exit(main())
