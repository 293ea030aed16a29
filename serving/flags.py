"""Command-line flags, named and defaulted as `tensorflow_model_server`'s (model_servers/main.cc).

Flags the real server has and this one honours map onto `ServerOptions`. Flags the real server
has and this one does not implement are accepted only at their default value; any other value
is a usage error that says so, rather than being silently ignored. Unknown flags are usage
errors too. Both `--flag=value` and `--flag value` are accepted; booleans also as bare `--flag`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence

__all__ = ["ServerOptions", "UsageError", "parse_flags"]


class UsageError(ValueError):
    """A command line the server cannot run with; `main` exits with status 2."""


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Everything the server needs from its command line."""

    port: int = 8500
    rest_api_port: int = 8501
    bind_address: str = "127.0.0.1"
    rest_api_num_threads: int = 4 * (os.cpu_count() or 1)
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    grpc_max_threads: int = 4 * (os.cpu_count() or 1)
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    saved_model_tags: tuple[str, ...] = ("serve",)
    allow_version_labels_for_unavailable_models: bool = False
    enable_signature_method_name_check: bool = False
    enable_serialization_as_tensor_content: bool = False
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    tensorflow_session_parallelism: int = 0
    tensorflow_session_config_file: str = ""
    verbose: bool = False
    file_system_poll_wait_seconds: int = 1
    model_config_file_poll_wait_seconds: int = 0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    enable_batching: bool = False
    batching_parameters_file: str = ""
    monitoring_config_file: str = ""
    enable_grpc_healthcheck_service: bool = False
    ssl_config_file: str = ""
    # This server's own (not flags of tensorflow_model_server; named --pg_*).
    pg_rest_ssl_config_file: str = ""
    # This server's own limits (not flags of tensorflow_model_server; named --pg_*).
    pg_rest_max_body_bytes: int = 64 * 2**20
    pg_rest_max_connections: int = 1024
    pg_rest_idle_timeout_seconds: float = 30.0
    pg_rest_write_timeout_seconds: float = 30.0
    pg_max_queued_requests: int = 4 * (os.cpu_count() or 1)
    pg_max_request_cost: int = 100_000
    pg_max_input_bytes: int = 64 * 2**20
    pg_drain_seconds: float = 20.0


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


# Flags of the real server that this one does not implement: (name, type, default, why).
# Only the default value is accepted.
_UNSUPPORTED = (
    ("grpc_socket_path", str, "", "gRPC over a UNIX socket is not implemented"),
    (
        "enable_per_model_batching_parameters",
        _bool,
        False,
        "per-model batching parameters are not implemented",
    ),
    ("use_alts_credentials", _bool, False, "ALTS credentials are not implemented"),
    ("platform_config_file", str, "", "platform configs are not implemented"),
    ("thread_pool_factory_config_file", str, "", "custom thread pools are not implemented"),
    ("grpc_channel_arguments", str, "", "custom gRPC channel arguments are not implemented"),
    ("prefer_tflite_model", _bool, False, "TFLite models are not supported"),
    ("mixed_precision", str, "", "mixed precision serving is not implemented"),
)

# Flags of the real server that tune machinery this one does not have; accepted and ignored,
# because every value is as good as any other here.
_IGNORED = (
    ("num_load_threads", int, 0),
    ("num_unload_threads", int, 0),
    ("flush_filesystem_caches", _bool, True),
    ("per_process_gpu_memory_fraction", float, 0.0),
    ("remove_unused_fields_from_bundle_metagraph", _bool, True),
    ("num_tflite_pools", int, 0),
    ("num_tflite_interpreters_per_pool", int, 1),
    ("xla_cpu_compilation_enabled", _bool, False),
    ("xla_gpu_compilation_enabled", _bool, False),
    ("enable_profiler", _bool, True),
    ("skip_initialize_tpu", _bool, False),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _add(
    parser: argparse.ArgumentParser, name: str, kind: type, default: object, help: str
) -> None:  # noqa: A002
    if kind is _bool:
        parser.add_argument(
            f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help
        )
    else:
        parser.add_argument(f"--{name}", type=kind, default=default, help=help)


# This server's limits on what clients may ask of it: (name, type, help). Not flags of
# tensorflow_model_server (which has none of these limits); the pg_ prefix keeps them apart.
_OWN_LIMITS = (
    (
        "pg_rest_max_body_bytes",
        int,
        "Largest REST request body; a larger one is answered 413 before it is read.",
    ),
    (
        "pg_rest_max_connections",
        int,
        "REST connections open at once; one more is answered 503 and closed.",
    ),
    (
        "pg_rest_idle_timeout_seconds",
        float,
        "An idle keep-alive REST connection (or one that sends no complete request) is "
        "closed after this long.",
    ),
    (
        "pg_rest_write_timeout_seconds",
        float,
        "A REST client that does not take its answer within this long is disconnected.",
    ),
    (
        "pg_max_queued_requests",
        int,
        "REST predict calls that may wait for one of --rest_api_num_threads; one more is "
        "answered 503 (UNAVAILABLE).",
    ),
    (
        "pg_max_request_cost",
        int,
        "Largest events x iterations of one call to a signature with an integer "
        "'iterations' input (refine); a costlier call is RESOURCE_EXHAUSTED (REST 429).",
    ),
    (
        "pg_max_input_bytes",
        int,
        "Largest total size of a request's decoded input tensors, judged from their declared "
        "shapes before they are built; beyond it RESOURCE_EXHAUSTED (REST 429).",
    ),
    (
        "pg_drain_seconds",
        float,
        "On SIGTERM, time for requests in flight to finish; the process exits by then even "
        "if a TF call is still running. Keep it below Kubernetes' "
        "terminationGracePeriodSeconds.",
    ),
)


def _add_own_limits(parser: argparse.ArgumentParser, defaults: ServerOptions) -> None:
    group = parser.add_argument_group("this server's limits (not tensorflow_model_server flags)")
    for name, kind, text in _OWN_LIMITS:
        default = getattr(defaults, name)
        _add(group, name, kind, default, f"{text} Default {default}.")


def _parser() -> argparse.ArgumentParser:
    defaults = ServerOptions()
    parser = _Parser(
        prog="pg-model-server",
        description="A TF Serving compatible model server (REST and gRPC) for TF2 SavedModels.",
        allow_abbrev=False,
    )
    _add(parser, "port", int, defaults.port, "gRPC port (default 8500).")
    _add(
        parser,
        "rest_api_port",
        int,
        defaults.rest_api_port,
        "REST port (default 8501, as the tensorflow/serving image sets it); 0 disables REST.",
    )
    _add(
        parser,
        "bind_address",
        str,
        defaults.bind_address,
        "Address both APIs listen on. Not a flag of tensorflow_model_server, which listens on "
        "all interfaces; this server listens on loopback unless told, e.g. 0.0.0.0.",
    )
    _add(
        parser,
        "rest_api_num_threads",
        int,
        defaults.rest_api_num_threads,
        "REST requests processed at once.",
    )
    _add(
        parser,
        "rest_api_timeout_in_ms",
        int,
        defaults.rest_api_timeout_in_ms,
        "Timeout of a REST predict call; 0 or less: none.",
    )
    _add(parser, "rest_api_enable_cors_support", _bool, False, "Add CORS headers to REST answers.")
    _add(parser, "grpc_max_threads", int, defaults.grpc_max_threads, "gRPC worker threads.")
    _add(parser, "model_name", str, defaults.model_name, "Name of the model of --model_base_path.")
    _add(parser, "model_base_path", str, "", "Directory whose int64-named children are versions.")
    _add(
        parser,
        "model_config_file",
        str,
        "",
        "Text-format ModelServerConfig; wins over --model_name/--model_base_path.",
    )
    _add(parser, "saved_model_tags", str, "serve", "Comma-separated MetaGraphDef tags to load.")
    _add(
        parser,
        "allow_version_labels_for_unavailable_models",
        _bool,
        False,
        "Allow labels that point at versions which are not loaded.",
    )
    _add(
        parser,
        "enable_signature_method_name_check",
        _bool,
        False,
        "Refuse to predict with signatures whose method_name is not predict/classify/regress.",
    )
    _add(
        parser,
        "enable_serialization_as_tensor_content",
        _bool,
        False,
        "gRPC outputs in tensor_content instead of the typed *_val fields.",
    )
    _add(parser, "tensorflow_intra_op_parallelism", int, 0, "TF intra-op threads (0: TF's choice).")
    _add(parser, "tensorflow_inter_op_parallelism", int, 0, "TF inter-op threads (0: TF's choice).")
    _add(parser, "tensorflow_session_parallelism", int, 0, "Both TF thread pools' size.")
    _add(
        parser,
        "tensorflow_session_config_file",
        str,
        "",
        "Text-format TF ConfigProto for the TF runtime (e.g. experimental { "
        "disable_thread_spinning: true }); the thread flags above override its thread counts.",
    )
    _add(
        parser,
        "file_system_poll_wait_seconds",
        int,
        defaults.file_system_poll_wait_seconds,
        "Seconds between polls of the base paths for new or removed versions; 0: poll once at "
        "start-up, negative: never.",
    )
    _add(
        parser,
        "model_config_file_poll_wait_seconds",
        int,
        0,
        "Seconds between re-reads of --model_config_file (0: read once).",
    )
    _add(parser, "max_num_load_retries", int, 5, "Retries of a version that failed to load.")
    _add(
        parser,
        "load_retry_interval_micros",
        int,
        defaults.load_retry_interval_micros,
        "Wait before retrying a failed load.",
    )
    _add(
        parser,
        "enable_model_warmup",
        _bool,
        True,
        "Replay assets.extra/tf_serving_warmup_requests before a version serves.",
    )
    _add(
        parser,
        "num_request_iterations_for_warmup",
        int,
        defaults.num_request_iterations_for_warmup,
        "Times each warm-up record is replayed.",
    )
    _add(parser, "enable_batching", _bool, False, "Merge concurrent predict calls into batches.")
    _add(
        parser,
        "batching_parameters_file",
        str,
        "",
        "Text-format BatchingParameters (implies nothing without --enable_batching).",
    )
    _add(
        parser,
        "monitoring_config_file",
        str,
        "",
        "Text-format MonitoringConfig; enables Prometheus metrics over REST.",
    )
    _add(
        parser,
        "enable_grpc_healthcheck_service",
        _bool,
        False,
        "Serve grpc.health.v1.Health on the gRPC port.",
    )
    _add(
        parser,
        "ssl_config_file",
        str,
        "",
        "Text-format SSLConfig (server_key, server_cert, custom_ca, client_verify: PEM texts) "
        "for TLS on the gRPC port.",
    )
    _add(
        parser,
        "pg_rest_ssl_config_file",
        str,
        "",
        "Text-format SSLConfig, as --ssl_config_file (it may be the same file), for HTTPS on "
        "the REST port; client_verify then requires client certificates there too. Not a "
        "flag of tensorflow_model_server, whose REST has no TLS.",
    )
    _add_own_limits(parser, defaults)
    _add(parser, "version", _bool, False, "Print the version and exit.")
    _add(parser, "verbose", _bool, False, "Log every REST request (not a real server flag).")
    unsupported = parser.add_argument_group("flags of tensorflow_model_server not implemented here")
    for name, kind, default, why in _UNSUPPORTED:
        _add(unsupported, name, kind, default, f"Not supported: {why}.")
    ignored = parser.add_argument_group("flags of tensorflow_model_server accepted and ignored")
    for name, kind, default in _IGNORED:
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
    for name, _, default, why in _UNSUPPORTED:
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
    for name, _, _ in _OWN_LIMITS:
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
            "separately. You cannot configure all."
        )
    if args.batching_parameters_file and not args.enable_batching:
        raise UsageError(
            "--batching_parameters_file is set but --enable_batching is not; batching "
            "parameters apply only with --enable_batching=true."
        )
    tags = tuple(t.strip() for t in args.saved_model_tags.split(",") if t.strip())
    return ServerOptions(
        port=args.port,
        rest_api_port=args.rest_api_port,
        bind_address=args.bind_address,
        rest_api_num_threads=args.rest_api_num_threads,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_enable_cors_support=args.rest_api_enable_cors_support,
        grpc_max_threads=args.grpc_max_threads,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        saved_model_tags=tags or ("serve",),
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        enable_serialization_as_tensor_content=args.enable_serialization_as_tensor_content,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
        tensorflow_session_parallelism=args.tensorflow_session_parallelism,
        tensorflow_session_config_file=args.tensorflow_session_config_file,
        verbose=args.verbose,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_micros=args.load_retry_interval_micros,
        enable_model_warmup=args.enable_model_warmup,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file,
        enable_grpc_healthcheck_service=args.enable_grpc_healthcheck_service,
        ssl_config_file=args.ssl_config_file,
        pg_rest_ssl_config_file=args.pg_rest_ssl_config_file,
        **{name: getattr(args, name) for name, _, _ in _OWN_LIMITS},
    )
