"""The Open Inference Protocol's gRPC service, `inference.GRPCInferenceService`, on the same
port as TF Serving's services (`serving.grpc_service`).

Messages are ours (`serving/protos/grpc_predict_v2.proto`); what versions, signatures and
parameters mean is `serving.v2`. ModelInfer takes inputs as typed `contents` or as
`raw_input_contents` and answers with `raw_output_contents`, as Triton does; it is
admitted through the same gate as Predict (`--grpc_max_threads`), so one protocol cannot
starve the other. Health and metadata calls run on the spare threads.
"""

# Method names are fixed by the service definition.
# ruff: noqa: N802

from __future__ import annotations

import grpc

from serving import _v2_tensors
from serving._grpc_answer import answer
from serving.errors import DeadlineExceededError, InvalidArgumentError
from serving.limits import AdmissionGate
from serving.monitoring import Metrics
from serving.protos import grpc_predict_v2_pb2 as pb
from serving.protos import grpc_predict_v2_pb2_grpc as pb_grpc
from serving.v2 import SIGNATURE_PARAMETER, TensorSpec, V2Api

__all__ = ["InferenceServicer", "add_to_server"]


def _signature_name(request: pb.ModelInferRequest) -> str:
    if SIGNATURE_PARAMETER not in request.parameters:
        return ""
    parameter = request.parameters[SIGNATURE_PARAMETER]
    if parameter.WhichOneof("parameter_choice") != "string_param":
        raise InvalidArgumentError(f"Expected parameter {SIGNATURE_PARAMETER} to be a string")
    return parameter.string_param


def _inputs(request: pb.ModelInferRequest, specs: list[TensorSpec]) -> dict:
    raw = request.raw_input_contents
    if raw and len(raw) != len(specs):
        raise InvalidArgumentError(
            f"Expected raw_input_contents for every input ({len(specs)}) or none. "
            f"Received: {len(raw)}"
        )
    if raw:
        return {
            s.name: _v2_tensors.from_raw(s.name, s.datatype, s.shape, data)
            for s, data in zip(specs, raw, strict=True)
        }
    return {
        s.name: _v2_tensors.from_contents(s.name, s.datatype, s.shape, tensor.contents)
        for s, tensor in zip(specs, request.inputs, strict=True)
    }


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, api: V2Api, gate: AdmissionGate, metrics: Metrics | None = None) -> None:
        self._api = api
        self._gate = gate
        self._metrics = metrics

    def ServerLive(self, request, context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=not self._api.not_ready_reason())

    def ModelReady(self, request, context) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self._api.model_ready(request.name, request.version))

    def ServerMetadata(self, request, context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(**self._api.server_metadata())

    def ModelMetadata(self, request, context) -> pb.ModelMetadataResponse:
        def compute() -> pb.ModelMetadataResponse:
            doc = self._api.model_metadata(request.name, request.version)
            response = pb.ModelMetadataResponse(
                name=doc["name"], versions=doc["versions"], platform=doc["platform"]
            )
            for which in ("inputs", "outputs"):
                for tensor in doc[which]:
                    getattr(response, which).add(**tensor)
            return response

        return answer(context, compute, self._metrics, request.name, "metadata")

    def ModelInfer(self, request: pb.ModelInferRequest, context) -> pb.ModelInferResponse:
        def admitted() -> pb.ModelInferResponse:
            self._gate.enter()
            try:
                return self._infer(request, context)
            finally:
                self._gate.leave()

        return answer(context, admitted, self._metrics, request.model_name, "infer")

    def _infer(self, request: pb.ModelInferRequest, context) -> pb.ModelInferResponse:
        call = self._api.prepare(
            request.model_name, request.model_version, _signature_name(request)
        )
        specs = [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in request.inputs]
        self._api.check_inputs(call, specs)
        inputs = _inputs(request, specs)
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceededError("Deadline Exceeded")
        names = [output.name for output in request.outputs]
        outputs = self._api.run(call, inputs, names, context.is_active)
        response = pb.ModelInferResponse(
            model_name=call.servable.name,
            model_version=str(call.servable.version),
            id=request.id,
        )
        for alias, array in outputs.items():
            datatype = call.output_datatype(alias)
            response.outputs.add(name=alias, datatype=datatype, shape=array.shape)
            response.raw_output_contents.append(_v2_tensors.to_raw(array, datatype))
        return response


def add_to_server(
    server: grpc.Server, api: V2Api, gate: AdmissionGate, metrics: Metrics | None = None
) -> None:
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(api, gate, metrics), server
    )
