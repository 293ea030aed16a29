"""Command-line flags, named and defaulted as `tensorflow_model_server`'s (model_servers/main.cc).

Flags the real server has and this one honours map onto `ServerOptions`. Flags the real server
has and this one does not implement are accepted only at their default value; any other value
is a usage error that says so, rather than being silently ignored. Unknown flags are usage
errors too. Both `--flag=value` and `--flag value` are accepted; booleans also as bare `--flag`.
Which flags there are: `serving._flag_table`; here they are parsed and checked.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from serving._flag_table import IGNORED, OWN_LIMITS, SERVER_FLAGS, UNSUPPORTED, parse_bool
from serving.options import ServerOptions

__all__ = ["UsageError", "parse_flags"]


class UsageError(ValueError):
    """A command line the server cannot run with; `main` exits with status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _add(
    parser: argparse.ArgumentParser, name: str, kind: type, default: object, help: str
) -> None:  # noqa: A002
    if kind is parse_bool:
        parser.add_argument(
            f"--{name}", type=parse_bool, nargs="?", const=True, default=default, help=help
        )
    else:
        parser.add_argument(f"--{name}", type=kind, default=default, help=help)


def _parser() -> argparse.ArgumentParser:
    defaults = ServerOptions()
    parser = _Parser(
        prog="pg-model-server",
        description="A TF Serving compatible model server (REST and gRPC) for TF2 SavedModels.",
        allow_abbrev=False,
    )
    for name, kind, text in SERVER_FLAGS:
        default = getattr(defaults, name)
        if name == "saved_model_tags":  # a tuple in the options, one comma-separated flag
            default = ",".join(default)
        _add(parser, name, kind, default, text)
    limits = parser.add_argument_group("this server's limits (not tensorflow_model_server flags)")
    for name, kind, text in OWN_LIMITS:
        default = getattr(defaults, name)
        _add(limits, name, kind, default, f"{text} Default {default}.")
    _add(parser, "version", parse_bool, False, "Print the version and exit.")
    _add(
        parser,
        "verbose",
        parse_bool,
        defaults.verbose,
        "Log every REST request (not a real server flag).",
    )
    unsupported = parser.add_argument_group("flags of tensorflow_model_server not implemented here")
    for name, kind, default, why in UNSUPPORTED:
        _add(unsupported, name, kind, default, f"Not supported: {why}.")
    ignored = parser.add_argument_group("flags of tensorflow_model_server accepted and ignored")
    for name, kind, default in IGNORED:
        _add(ignored, name, kind, default, "Accepted for compatibility; has no effect here.")
    return parser


def parse_flags(argv: Sequence[str]) -> ServerOptions | None:
    """Parse a command line; None means `--version` was asked for. Raises UsageError."""
    parser = _parser()
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        raise UsageError(
            f"unknown flag: {unknown[0]} (run with --help for the flags this server accepts)"
        )
    if args.version:
        return None
    for name, _, default, why in UNSUPPORTED:
        value = getattr(args, name)
        if value != default:
            raise UsageError(f"--{name}={value} is not supported by this model server: {why}.")
    if not args.model_config_file and not args.model_base_path:
        raise UsageError(
            "Both --model_base_path and --model_config_file are empty; give one of them."
        )
    if args.port <= 0:
        raise UsageError(
            f"Expected --port > 0 (gRPC over a UNIX socket is not implemented). "
            f"Received: --port={args.port}"
        )
    if args.rest_api_port < 0 or args.rest_api_port == args.port:
        raise UsageError(
            f"Expected --rest_api_port >= 0 and different from --port. "
            f"Received: --rest_api_port={args.rest_api_port}, --port={args.port}"
        )
    for name, _, _ in OWN_LIMITS:
        if getattr(args, name) <= 0:
            raise UsageError(f"Expected --{name} > 0. Received: --{name}={getattr(args, name)}")
    for name in ("rest_api_num_threads", "grpc_max_threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"Expected --{name} >= 1. Received: --{name}={getattr(args, name)}")
    if args.tensorflow_session_parallelism > 0 and (
        args.tensorflow_intra_op_parallelism > 0 or args.tensorflow_inter_op_parallelism > 0
    ):
        raise UsageError(
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all. Received: "
            f"--tensorflow_session_parallelism={args.tensorflow_session_parallelism}, "
            f"--tensorflow_intra_op_parallelism={args.tensorflow_intra_op_parallelism}, "
            f"--tensorflow_inter_op_parallelism={args.tensorflow_inter_op_parallelism}"
        )
    if args.batching_parameters_file and not args.enable_batching:
        raise UsageError(
            "--batching_parameters_file is set but --enable_batching is not; batching "
            "parameters apply only with --enable_batching=true. Received: "
            f"--batching_parameters_file={args.batching_parameters_file}, "
            f"--enable_batching={args.enable_batching}"
        )
    tags = tuple(t.strip() for t in args.saved_model_tags.split(",") if t.strip())
    # Every option is the flag of its name, except the tags, which the flag writes as one text.
    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(ServerOptions)}
    return ServerOptions(**{**values, "saved_model_tags": tags or ("serve",)})
