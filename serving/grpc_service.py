"""The gRPC front end: `tensorflow.serving.PredictionService` and `ModelService`, beside the
Open Inference Protocol's `inference.GRPCInferenceService` (`serving.grpc_v2`) and standard
health (`serving.health`) on the same port.

Behaviour and messages follow tensorflow_serving/model_servers/prediction_service_impl.cc,
model_service_impl.cc and servables/tensorflow/predict_util.cc. Requests run on the gRPC
thread pool (`--grpc_max_threads`) with no lock around inference; the client's deadline is
enforced by gRPC.
"""

# Method names are fixed by the service definitions.
# ruff: noqa: N802

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import _dtypes, _responses, _tensor_proto, grpc_v2
from serving._grpc_answer import answer
from serving.errors import DeadlineExceededError, InvalidArgumentError, UnimplementedError
from serving.limits import AdmissionGate, RequestLimits, check_cost, check_declared_inputs
from serving.manager import ServableManager
from serving.monitoring import Metrics
from serving.servable import DEFAULT_SIGNATURE, Servable

if TYPE_CHECKING:
    from serving.health import HealthStatuses
    from serving.v2 import V2Api

__all__ = ["GrpcServer", "ModelServicer", "PredictionServicer"]

# gRPC threads beyond --grpc_max_threads, never taken by a Predict call for long: they answer
# health checks, status, metadata and the refusals of Predict calls over capacity.
_SPARE_THREADS = 2


def _version_and_label(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(
        self,
        manager: ServableManager,
        tensor_content_outputs: bool = False,
        check_method_name: bool = False,
        metrics: Metrics | None = None,
        request_limits: RequestLimits | None = None,
        gate: AdmissionGate | None = None,
    ) -> None:
        self._manager = manager
        self._tensor_content_outputs = tensor_content_outputs
        self._check_method_name = check_method_name
        self._metrics = metrics
        self._limits = request_limits or RequestLimits()
        self.gate = gate or AdmissionGate(2**31, "gRPC predict calls")

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        return answer(
            context,
            lambda: self._admitted_predict(request, context),
            self._metrics,
            request.model_spec.name,
            "predict",
        )

    def _admitted_predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        # Each admitted call holds a gRPC thread until it ends; the pool has threads beyond
        # the gate's capacity, so refusals, health checks and status calls always find one.
        self.gate.enter()
        try:
            return self._predict(request, context.time_remaining(), context.is_active)
        finally:
            self.gate.leave()

    def _predict(
        self,
        request: predict_pb2.PredictRequest,
        timeout_s: float | None,
        still_wanted: Callable[[], bool] | None = None,
    ) -> predict_pb2.PredictResponse:
        spec = request.model_spec
        servable = self._manager.get(spec.name, *_version_and_label(spec))
        signature_name = spec.signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_def(signature_name)
        sent = set(request.inputs)
        if (
            len(sent) >= len(signature.inputs)
            or not signature.defaults
            or sent - set(signature.inputs)
        ):
            Servable.check_input_names(signature, request.inputs)
        for index, alias in enumerate(sorted(request.inputs)):
            expected = signature.inputs[alias].dtype
            if request.inputs[alias].dtype != expected:
                raise InvalidArgumentError(
                    f"Expects arg[{index}] to be {_dtypes.dtype_string(expected)} but "
                    f"{_dtypes.dtype_string(request.inputs[alias].dtype)} is provided"
                )
        # Shapes and sizes as declared, before a single tensor is built: a few bytes of
        # TensorProto may declare gigabytes to fill.
        shapes = {
            alias: tuple(int(d.size) for d in proto.tensor_shape.dim)
            for alias, proto in request.inputs.items()
        }
        check_declared_inputs(signature, shapes, self._limits)
        inputs = {}
        for alias in sorted(request.inputs):
            proto = request.inputs[alias]
            try:
                inputs[alias] = _tensor_proto.from_tensor_proto(proto)
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"tensor parsing error: {alias}: {e.message}") from None
        inputs = Servable.with_defaults(signature, inputs)
        check_cost(inputs, self._limits)
        # Inference runs on this gRPC thread. The client's deadline needs no watch here:
        # gRPC itself answers DEADLINE_EXCEEDED when it passes and drops the late response,
        # and a TF2 function cannot be stopped, so moving it to another thread (as this
        # server once did) only added two thread switches, 0.2 ms, to every request.
        if timeout_s is not None and timeout_s <= 0:
            raise DeadlineExceededError("Deadline Exceeded")
        outputs = servable.run(
            signature_name,
            inputs,
            output_filter=list(request.output_filter),
            check_method_name=self._check_method_name,
            still_wanted=still_wanted,
        )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature_name
        for alias, array in outputs.items():
            _tensor_proto.to_tensor_proto(
                array,
                dtype=signature.outputs[alias].dtype,
                as_tensor_content=self._tensor_content_outputs,
                out=response.outputs[alias],
            )
        return response

    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        def compute() -> get_model_metadata_pb2.GetModelMetadataResponse:
            if not request.HasField("model_spec"):
                raise InvalidArgumentError("Missing ModelSpec")
            return _responses.model_metadata(
                self._manager,
                request.model_spec.name,
                *_version_and_label(request.model_spec),
                list(request.metadata_field),
            )

        return answer(context, compute, self._metrics, request.model_spec.name, "metadata")

    def _unimplemented(self, api: str, context: grpc.ServicerContext) -> None:
        def compute() -> None:
            raise UnimplementedError(f"{api} is not implemented by this model server; use Predict.")

        return answer(context, compute)

    def Classify(self, request: object, context: grpc.ServicerContext) -> None:
        return self._unimplemented("Classify", context)

    def Regress(self, request: object, context: grpc.ServicerContext) -> None:
        return self._unimplemented("Regress", context)

    def MultiInference(self, request: object, context: grpc.ServicerContext) -> None:
        return self._unimplemented("MultiInference", context)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ServableManager, metrics: Metrics | None = None) -> None:
        self._manager = manager
        self._metrics = metrics

    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        def compute() -> get_model_status_pb2.GetModelStatusResponse:
            if not request.HasField("model_spec"):
                raise InvalidArgumentError("Missing ModelSpec")
            version, _ = _version_and_label(request.model_spec)
            # As in the real server, a version label does not narrow the status.
            return _responses.model_status(self._manager, request.model_spec.name, version)

        return answer(context, compute, self._metrics, request.model_spec.name, "status")

    def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        def compute() -> model_management_pb2.ReloadConfigResponse:
            if request.config.WhichOneof("config") != "model_config_list":
                raise InvalidArgumentError(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                    "ModelConfigList is currently supported"
                )
            self._manager.reload_config(request.config)
            return model_management_pb2.ReloadConfigResponse()

        return answer(context, compute)


class GrpcServer:
    """The services on `host:port` (port 0 picks a free one; see `.port`): TF Serving's two,
    V2's if `v2` is given, health if `health` is; TLS with `credentials`."""

    def __init__(
        self,
        manager: ServableManager,
        host: str = "127.0.0.1",
        port: int = 8500,
        max_threads: int = 16,
        tensor_content_outputs: bool = False,
        check_method_name: bool = False,
        metrics: Metrics | None = None,
        health: HealthStatuses | None = None,
        request_limits: RequestLimits | None = None,
        v2: V2Api | None = None,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        if max_threads < 1:
            raise ValueError(f"Expected `max_threads` >= 1. Received: max_threads={max_threads}")
        # Predict calls may hold `max_threads` threads; the spare ones answer everything else.
        self.gate = AdmissionGate(max_threads, "gRPC predict calls")
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=max_threads + _SPARE_THREADS, thread_name_prefix="serving-grpc"
            ),
            # The real server lifts gRPC's 4 MiB default: tensors are routinely larger.
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(
                manager,
                tensor_content_outputs,
                check_method_name,
                metrics,
                request_limits,
                self.gate,
            ),
            self._server,
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelServicer(manager, metrics), self._server
        )
        if v2 is not None:
            grpc_v2.add_to_server(self._server, v2, self.gate, metrics)
        if health is not None:
            health.add_to_server(self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if credentials is not None:
            self._port = self._server.add_secure_port(address, credentials)
        else:
            self._port = self._server.add_insecure_port(address)
        if self._port == 0:
            raise OSError(f"Cannot bind the gRPC server to {address}")

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float | None = None) -> threading.Event:
        """Refuse new calls; calls in progress get `grace` seconds. Returns the event set
        once all have ended."""
        return self._server.stop(grace)
