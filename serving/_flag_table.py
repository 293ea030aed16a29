"""The server's flags, declared: what each one is, in the order `--help` lists them.

Flags this server implements take their defaults from `ServerOptions`; the tables here say
only their names, types and help. The real server's flags that this one does not implement,
or accepts and ignores, have their defaults here since no option holds them.
"""

from __future__ import annotations

import argparse


def parse_bool(text: str) -> bool:
    """A boolean flag's value, spelled as tensorflow_model_server accepts it."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


# Flags of tensorflow_model_server that this server implements (plus --bind_address and
# --pg_rest_ssl_config_file, its own): (name, type, help).
SERVER_FLAGS = (
    ("port", int, "gRPC port (default 8500)."),
    (
        "rest_api_port",
        int,
        "REST port (default 8501, as the tensorflow/serving image sets it); 0 disables REST.",
    ),
    (
        "bind_address",
        str,
        "Address both APIs listen on. Not a flag of tensorflow_model_server, which listens on "
        "all interfaces; this server listens on loopback unless told, e.g. 0.0.0.0.",
    ),
    ("rest_api_num_threads", int, "REST requests processed at once."),
    ("rest_api_timeout_in_ms", int, "Timeout of a REST predict call; 0 or less: none."),
    ("rest_api_enable_cors_support", parse_bool, "Add CORS headers to REST answers."),
    ("grpc_max_threads", int, "gRPC worker threads."),
    ("model_name", str, "Name of the model of --model_base_path."),
    ("model_base_path", str, "Directory whose int64-named children are versions."),
    (
        "model_config_file",
        str,
        "Text-format ModelServerConfig; wins over --model_name/--model_base_path.",
    ),
    ("saved_model_tags", str, "Comma-separated MetaGraphDef tags to load."),
    (
        "allow_version_labels_for_unavailable_models",
        parse_bool,
        "Allow labels that point at versions which are not loaded.",
    ),
    (
        "enable_signature_method_name_check",
        parse_bool,
        "Refuse to predict with signatures whose method_name is not predict/classify/regress.",
    ),
    (
        "enable_serialization_as_tensor_content",
        parse_bool,
        "gRPC outputs in tensor_content instead of the typed *_val fields.",
    ),
    ("tensorflow_intra_op_parallelism", int, "TF intra-op threads (0: TF's choice)."),
    ("tensorflow_inter_op_parallelism", int, "TF inter-op threads (0: TF's choice)."),
    ("tensorflow_session_parallelism", int, "Both TF thread pools' size."),
    (
        "tensorflow_session_config_file",
        str,
        "Text-format TF ConfigProto for the TF runtime (e.g. experimental { "
        "disable_thread_spinning: true }); the thread flags above override its thread counts.",
    ),
    (
        "file_system_poll_wait_seconds",
        int,
        "Seconds between polls of the base paths for new or removed versions; 0: poll once at "
        "start-up, negative: never.",
    ),
    (
        "model_config_file_poll_wait_seconds",
        int,
        "Seconds between re-reads of --model_config_file (0: read once).",
    ),
    ("max_num_load_retries", int, "Retries of a version that failed to load."),
    ("load_retry_interval_micros", int, "Wait before retrying a failed load."),
    (
        "enable_model_warmup",
        parse_bool,
        "Replay assets.extra/tf_serving_warmup_requests before a version serves.",
    ),
    ("num_request_iterations_for_warmup", int, "Times each warm-up record is replayed."),
    ("enable_batching", parse_bool, "Merge concurrent predict calls into batches."),
    (
        "batching_parameters_file",
        str,
        "Text-format BatchingParameters (implies nothing without --enable_batching).",
    ),
    (
        "monitoring_config_file",
        str,
        "Text-format MonitoringConfig; enables Prometheus metrics over REST.",
    ),
    (
        "enable_grpc_healthcheck_service",
        parse_bool,
        "Serve grpc.health.v1.Health on the gRPC port.",
    ),
    (
        "ssl_config_file",
        str,
        "Text-format SSLConfig (server_key, server_cert, custom_ca, client_verify: PEM texts) "
        "for TLS on the gRPC port.",
    ),
    (
        "pg_rest_ssl_config_file",
        str,
        "Text-format SSLConfig, as --ssl_config_file (it may be the same file), for HTTPS on "
        "the REST port; client_verify then requires client certificates there too. Not a "
        "flag of tensorflow_model_server, whose REST has no TLS.",
    ),
)

# This server's limits on what clients may ask of it: (name, type, help). Not flags of
# tensorflow_model_server (which has none of these limits); the pg_ prefix keeps them apart.
OWN_LIMITS = (
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

# Flags of the real server that this one does not implement: (name, type, default, why).
# Only the default value is accepted.
UNSUPPORTED = (
    ("grpc_socket_path", str, "", "gRPC over a UNIX socket is not implemented"),
    (
        "enable_per_model_batching_parameters",
        parse_bool,
        False,
        "per-model batching parameters are not implemented",
    ),
    ("use_alts_credentials", parse_bool, False, "ALTS credentials are not implemented"),
    ("platform_config_file", str, "", "platform configs are not implemented"),
    ("thread_pool_factory_config_file", str, "", "custom thread pools are not implemented"),
    ("grpc_channel_arguments", str, "", "custom gRPC channel arguments are not implemented"),
    ("prefer_tflite_model", parse_bool, False, "TFLite models are not supported"),
    ("mixed_precision", str, "", "mixed precision serving is not implemented"),
)

# Flags of the real server that tune machinery this one does not have; accepted and ignored,
# because every value is as good as any other here.
IGNORED = (
    ("num_load_threads", int, 0),
    ("num_unload_threads", int, 0),
    ("flush_filesystem_caches", parse_bool, True),
    ("per_process_gpu_memory_fraction", float, 0.0),
    ("remove_unused_fields_from_bundle_metagraph", parse_bool, True),
    ("num_tflite_pools", int, 0),
    ("num_tflite_interpreters_per_pool", int, 1),
    ("xla_cpu_compilation_enabled", parse_bool, False),
    ("xla_gpu_compilation_enabled", parse_bool, False),
    ("enable_profiler", parse_bool, True),
    ("skip_initialize_tpu", parse_bool, False),
)
