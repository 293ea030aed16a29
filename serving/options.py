"""What the server runs with: `ServerOptions`, one field per flag of `serving.flags`."""

from __future__ import annotations

import dataclasses
import os

__all__ = ["ServerOptions"]


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
