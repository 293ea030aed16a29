"""`ModelServer`: the servable manager plus the gRPC and REST front ends, started together.

Both ports speak TF Serving's API and the Open Inference Protocol (`serving.v2`) over the same
models; gRPC health (`serving.health`) and TLS (`serving.tls`) as the flags ask."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from serving import _json_document, model_config, tf_runtime
from serving.batching import BatchScheduler, read_batching_parameters
from serving.errors import ServingError
from serving.grpc_service import GrpcServer
from serving.health import HealthStatuses
from serving.limits import RequestLimits
from serving.manager import ServableManager
from serving.monitoring import DEFAULT_PROMETHEUS_PATH, Metrics, read_monitoring_config
from serving.options import ServerOptions
from serving.rest import RestLimits, RestServer
from serving.servable import Servable
from serving.tls import grpc_credentials, read_ssl_config, rest_ssl_context
from serving.v2 import V2Api
from serving.warmup import warm_up

__all__ = ["ModelServer"]

_JSON = "application/json"


def inference_slots_for(cores: int) -> int:
    """How many TF calls may run at once on `cores` cores: two per core, at least two (so
    that one slow request never holds up the next)."""
    return max(2, 2 * cores)


class ModelServer:
    """Load the configured models, then serve them over gRPC and (unless port 0) REST.

    Ports given as 0 in `options` are chosen by the OS; read them from `grpc_port` and
    `rest_port` after `start()`.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self._session_config = (
            tf_runtime.read_session_config(options.tensorflow_session_config_file)
            if options.tensorflow_session_config_file
            else None
        )
        if options.model_config_file:
            config = model_config.read_model_server_config(options.model_config_file)
        else:
            config = model_config.single_model_config(options.model_name, options.model_base_path)
        self.metrics: Metrics | None = None
        self._prometheus_path = ""
        if options.monitoring_config_file:
            monitoring = read_monitoring_config(options.monitoring_config_file)
            if monitoring.prometheus_config.enable:
                self.metrics = Metrics(configured=lambda: self.manager.configured_names())
                self._prometheus_path = monitoring.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
        self.batch_scheduler: BatchScheduler | None = None
        self._batching_options = (
            read_batching_parameters(options.batching_parameters_file)
            if options.enable_batching
            else None
        )
        # TF calls running at once, over all models. Unbounded, 16 concurrent one-event heat
        # calls gave fewer events/s than 4 (380 vs 550 in process on 2 cores: their
        # activations crowd the caches); twice the cores keeps both busy. The rest wait here,
        # on no core, instead of inside TF.
        self.inference_slots = threading.BoundedSemaphore(inference_slots_for(os.cpu_count() or 1))
        self._draining = threading.Event()
        self.manager = ServableManager(
            config,
            saved_model_tags=options.saved_model_tags,
            allow_version_labels_for_unavailable_models=(
                options.allow_version_labels_for_unavailable_models
            ),
            prepare=self._prepare,
            on_event=self.metrics.observe_load_event if self.metrics is not None else None,
            max_num_load_retries=options.max_num_load_retries,
            load_retry_interval_s=options.load_retry_interval_micros / 1e6,
        )
        self.request_limits = RequestLimits(
            max_request_cost=options.pg_max_request_cost,
            max_input_bytes=options.pg_max_input_bytes,
        )
        self.v2 = V2Api(
            self.manager,
            not_ready_reason=self._not_ready_reason,
            request_limits=self.request_limits,
            check_method_name=options.enable_signature_method_name_check,
        )
        self.health: HealthStatuses | None = None
        if options.enable_grpc_healthcheck_service:
            self.health = HealthStatuses(self._model_readiness_states)
            self.manager.on_change = self.health.refresh
        # Read now, so that a bad file fails the start before any model loads.
        self._grpc_ssl = (
            read_ssl_config("ssl_config_file", options.ssl_config_file)
            if options.ssl_config_file
            else None
        )
        self._rest_ssl = (
            read_ssl_config("pg_rest_ssl_config_file", options.pg_rest_ssl_config_file)
            if options.pg_rest_ssl_config_file
            else None
        )
        self._grpc: GrpcServer | None = None
        self._rest: RestServer | None = None
        self._stopped = threading.Event()
        self._pollers: list[threading.Thread] = []

    def _prepare(self, servable: Servable) -> None:
        # Batching first, so warm-up runs the path requests will take.
        servable.batch_scheduler = self.batch_scheduler
        servable.inference_slots = self.inference_slots
        if self.options.enable_model_warmup:
            warm_up(servable, self.options.num_request_iterations_for_warmup)

    def _poll_base_paths(self, period_s: float) -> None:
        while not self._stopped.wait(period_s):
            try:
                self.manager.poll()
            except Exception as e:  # noqa: BLE001 - a bad poll must not end polling
                print(f"File system poll failed: {type(e).__name__}: {e}", file=sys.stderr)

    def _poll_config_file(self, period_s: float) -> None:
        while not self._stopped.wait(period_s):
            try:
                config = model_config.read_model_server_config(self.options.model_config_file)
                if config != self.manager.config():
                    self.manager.reload_config(config)
            except (ValueError, ServingError) as e:
                print(f"Model config file reload failed: {e}", file=sys.stderr)

    def _start_pollers(self) -> None:
        periods = [(self._poll_base_paths, self.options.file_system_poll_wait_seconds)]
        if self.options.model_config_file:
            periods.append(
                (self._poll_config_file, self.options.model_config_file_poll_wait_seconds)
            )
        for target, period in periods:
            if period > 0:
                thread = threading.Thread(
                    target=target, args=(float(period),), name="serving-poll", daemon=True
                )
                thread.start()
                self._pollers.append(thread)

    def start(self) -> None:
        """Load every model (raising ServingError if one fails), then open both ports."""
        options = self.options
        tf_runtime.configure(
            self._session_config,
            intra_op=options.tensorflow_intra_op_parallelism
            or options.tensorflow_session_parallelism,
            inter_op=options.tensorflow_inter_op_parallelism
            or options.tensorflow_session_parallelism,
        )
        if self._batching_options is not None:
            self.batch_scheduler = BatchScheduler(
                self._batching_options,
                on_batch=self.metrics.observe_batch if self.metrics is not None else None,
            )
        self.manager.load()
        check = self.options.enable_signature_method_name_check
        routes = {"/ready": self._readiness, "/ready/": self._model_readiness}
        if self.metrics is not None:
            routes[self._prometheus_path] = self._prometheus
        self._grpc = GrpcServer(
            self.manager,
            host=self.options.bind_address,
            port=self.options.port,
            max_threads=self.options.grpc_max_threads,
            tensor_content_outputs=self.options.enable_serialization_as_tensor_content,
            check_method_name=check,
            metrics=self.metrics,
            health=self.health,
            request_limits=self.request_limits,
            v2=self.v2,
            credentials=grpc_credentials(self._grpc_ssl) if self._grpc_ssl else None,
        )
        if options.rest_api_port:
            self._rest = RestServer(
                self.manager,
                host=self.options.bind_address,
                port=self.options.rest_api_port,
                num_threads=self.options.rest_api_num_threads,
                timeout_in_ms=self.options.rest_api_timeout_in_ms,
                enable_cors=self.options.rest_api_enable_cors_support,
                check_method_name=check,
                verbose=self.options.verbose,
                metrics=self.metrics,
                routes=routes,
                limits=RestLimits(
                    max_body_bytes=options.pg_rest_max_body_bytes,
                    max_connections=options.pg_rest_max_connections,
                    idle_timeout_s=options.pg_rest_idle_timeout_seconds,
                    write_timeout_s=options.pg_rest_write_timeout_seconds,
                    max_queued_requests=options.pg_max_queued_requests,
                ),
                request_limits=self.request_limits,
                v2=self.v2,
                ssl_context=rest_ssl_context(self._rest_ssl) if self._rest_ssl else None,
            )
        self._grpc.start()
        if self._rest is not None:
            self._rest.start()
        self._start_pollers()

    @property
    def grpc_port(self) -> int:
        if self._grpc is None:
            raise RuntimeError("Expected start() before reading grpc_port. Received: not started")
        return self._grpc.port

    @property
    def rest_port(self) -> int | None:
        """The REST port, or None when REST is disabled (`--rest_api_port=0`)."""
        if self._grpc is None:
            raise RuntimeError("Expected start() before reading rest_port. Received: not started")
        return self._rest.port if self._rest is not None else None

    def _not_ready_reason(self) -> str:
        """Why the server cannot take a predict call now ("" when it can)."""
        if self._draining.is_set():
            return "Server is shutting down"
        names = self.manager.configured_names()
        if not names:
            return "No model is configured"
        if not any(self.manager.is_ready(name) for name in names):
            return f"No configured model has a loaded version: {', '.join(sorted(names))}"
        if self._rest is not None and self._rest.gate.full:
            return "REST predict calls are at capacity (--pg_max_queued_requests)"
        if self._grpc is not None and self._grpc.gate.full:
            return "gRPC predict calls are at capacity (--grpc_max_threads)"
        return ""

    def _readiness(self, _: str = "") -> tuple[int, bytes, str]:
        """GET /ready (Kubernetes readiness): 200 while the server takes predict calls for
        at least one configured model, naming any that cannot serve yet; 503 saying why not
        (draining, no model with a version, every predict slot and queue place taken)."""
        reason = self._not_ready_reason()
        if reason:
            return 503, _json_document.error_document(reason), _JSON
        names = self.manager.configured_names()
        waiting = sorted(name for name in names if not self.manager.is_ready(name))
        body = {"ready": True, "models_not_ready": waiting}
        return 200, json.dumps(body).encode("utf-8"), _JSON

    def _model_readiness(self, name: str) -> tuple[int, bytes, str]:
        """GET /ready/NAME: as /ready, for one model: 404 if the config does not list it,
        503 while it has no loaded, warmed-up version."""
        if name not in self.manager.configured_names():
            return 404, _json_document.error_document(f"Model not configured: {name}"), _JSON
        reason = self._not_ready_reason()
        if not reason and not self.manager.is_ready(name):
            reason = f"Model {name} has no loaded version yet"
        if reason:
            return 503, _json_document.error_document(reason), _JSON
        return 200, json.dumps({"ready": True, "model": name}).encode("utf-8"), _JSON

    def _model_readiness_states(self) -> dict[str, bool]:
        """{configured model: has a loaded version}, for gRPC health."""
        return {name: self.manager.is_ready(name) for name in self.manager.configured_names()}

    def _prometheus(self, _: str = "") -> tuple[int, bytes, str]:
        assert self.metrics is not None
        body, content_type = self.metrics.exposition()
        return 200, body, content_type

    def stop(self, grace_s: float = 1.0) -> bool:
        """Drain: readiness and health turn unready, new connections are refused, idle REST
        connections close at once, requests in progress get `grace_s` seconds to finish;
        then everything stops. Returns within about `grace_s` even if a TF call does not;
        True if nothing was left running (the caller then exits cleanly; otherwise it must
        leave with `os._exit`, since a thread inside TF cannot be stopped)."""
        deadline = time.monotonic() + grace_s
        self._draining.set()
        if self.health is not None:
            self.health.shutdown()
        grpc_done = self._grpc.stop(grace=grace_s) if self._grpc is not None else None
        drained = True
        if self._rest is not None:
            drained = self._rest.stop(grace_s)
        if grpc_done is not None:
            drained = grpc_done.wait(max(0.0, deadline - time.monotonic())) and drained
            drained = drained and self._grpc is not None and self._grpc.gate.inside == 0
        self._stopped.set()
        for thread in self._pollers:  # a poll may be loading a model: not waited for long
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.batch_scheduler is not None:
            left = max(0.0, deadline - time.monotonic())
            drained = self.batch_scheduler.stop(left) and drained
        return drained

    def wait(self) -> None:
        """Block until `stop()` is called (from another thread or a signal handler)."""
        self._stopped.wait()
