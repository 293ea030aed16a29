"""`pg-model-server query` (`python -m serving query`): send events to a TF Serving
(compatible) server and print or save the answers.

    pg-model-server query NAME --server grpc://HOST:PORT --input events.npy [--output o.npz]
        [--protocol v2] [--ca-file ca.pem]

Exit codes: 0 on success, 1 when the server answers with an error, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from serving.client import DEFAULT_SIGNATURE, PROTOCOLS, Client
from serving.errors import ServingError

__all__ = ["add_query_arguments", "main", "run_query", "run_query_command"]


def _load_inputs(path: str) -> np.ndarray | dict[str, np.ndarray]:
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    return loaded


def run_query(
    server: str,
    name: str,
    input_path: str,
    signature: str = DEFAULT_SIGNATURE,
    output_path: str | None = None,
    version: int | None = None,
    label: str | None = None,
    timeout: float | None = 30.0,
    protocol: str = "tf",
    ca_file: str | None = None,
) -> dict[str, np.ndarray]:
    """Send the arrays in `input_path` (.npy: one array; .npz: arrays by input alias) to model
    `name` on `server`, in TF Serving's protocol ("tf") or the Open Inference Protocol
    ("v2"); save the outputs to `output_path` (.npz) if given, and return them."""
    inputs = _load_inputs(input_path)
    with Client(server, timeout=timeout, protocol=protocol, ca_file=ca_file) as client:
        outputs = client.predict(name, inputs, signature=signature, version=version, label=label)
    if output_path:
        np.savez(output_path, **outputs)
    return outputs


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `query` command's arguments to `parser` (a subcommand parser of the CLI)."""
    parser.add_argument("name", help="Model name on the server.")
    parser.add_argument(
        "--server",
        required=True,
        help="grpc://HOST:PORT (gRPC) or http://HOST:PORT (REST); grpcs://, https:// for TLS.",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="tf",
        help="tf: TF Serving's API (default); v2: the Open Inference Protocol (KServe, Triton).",
    )
    parser.add_argument(
        "--ca-file", default=None, help="PEM of the CA that signed the server's certificate."
    )
    parser.add_argument(
        "--input", required=True, help=".npy (one input) or .npz (inputs by alias)."
    )
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE, help="Signature name.")
    parser.add_argument("--output", default=None, help="Write the outputs to this .npz.")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, default=None, help="Model version.")
    choice.add_argument("--label", default=None, help="Model version label.")
    parser.add_argument("--timeout", type=float, default=30.0, help="Seconds per call.")


def run_query_command(args: argparse.Namespace) -> int:
    """Run a parsed `query` command: 0 on success, 1 on a server error, 2 on bad input."""
    try:
        outputs = run_query(
            args.server,
            args.name,
            args.input,
            signature=args.signature,
            output_path=args.output,
            version=args.version,
            label=args.label,
            timeout=args.timeout,
            protocol=args.protocol,
            ca_file=args.ca_file,
        )
    except ServingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for alias, array in outputs.items():
        print(f"{alias}: shape={list(array.shape)} dtype={array.dtype}")
        if not args.output:
            print(np.array2string(array, threshold=200))
    if args.output:
        print(f"wrote {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: `NAME --server URL --input events.npy [--signature S] [--output F]`."""
    parser = argparse.ArgumentParser(
        prog="pg-model-server query", description="Query a model on a TF Serving compatible server."
    )
    add_query_arguments(parser)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    return run_query_command(args)
