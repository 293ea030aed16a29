"""`bench --protocol v2`: the Open Inference Protocol's calls beside TF Serving's, on the same
server and the same events, and the ratios of their per-event latencies.

The V2 requests carry what the TF ones carry: over REST the same numbers written by the same
JSON writer (flat `data` instead of nested `inputs`), over gRPC the same bytes
(`raw_input_contents` where TF's request has `tensor_content`). Both V2 calls use the
protocol's own path end to end (`/v2/models/{m}/infer`, `GRPCInferenceService/ModelInfer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np

from serving.benchmarks.latency import rest_predictor

__all__ = [
    "RATIO_BLOCKS",
    "grpc_v2_predictor",
    "ratio_with_range",
    "v2_predictors",
    "v2_requests",
]

#: Consecutive blocks of rounds whose own p50 ratios give a ratio's range.
RATIO_BLOCKS = 5


def v2_requests(name: str, signature: str, inputs: dict[str, np.ndarray]):
    """(gRPC ModelInferRequest, REST body) for the same events as `run._requests`."""
    from serving import _dtypes, _v2_tensors
    from serving.protos import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name=name)
    tensors = []
    for alias, array in inputs.items():
        datatype = _v2_tensors.datatype_for_dtype(_dtypes.dtype_for_numpy(array))
        request.inputs.add(name=alias, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(_v2_tensors.to_raw(array, datatype))
        tensors.append(
            {
                "name": alias,
                "shape": list(array.shape),
                "datatype": datatype,
                "data": array.reshape(-1).tolist(),
            }
        )
    doc: dict = {"inputs": tensors}
    if signature != "serving_default":
        request.parameters["signature_name"].string_param = signature
        doc["parameters"] = {"signature_name": signature}
    return request, json.dumps(doc).encode()


def grpc_v2_predictor(port: int, request: object) -> tuple[Callable[[], object], Callable]:
    import grpc

    from serving.protos import grpc_predict_v2_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(channel)
    return (lambda: stub.ModelInfer(request, timeout=120)), channel.close


def v2_predictors(grpc_port: int, rest_port: int, name: str, signature: str, inputs) -> dict:
    """{"grpc_v2": (call, close), "rest_v2": (call, close)} on one server."""
    request, body = v2_requests(name, signature, inputs)
    return {
        "grpc_v2": grpc_v2_predictor(grpc_port, request),
        "rest_v2": rest_predictor(rest_port, name, body, path=f"/v2/models/{name}/infer"),
    }


def ratio_with_range(numerator: Sequence[float], denominator: Sequence[float]) -> dict:
    """p50(numerator) / p50(denominator) over all calls, and the lowest and highest of the
    same ratio within each of `RATIO_BLOCKS` consecutive blocks of the rounds (the calls
    were taken in turns, so block k of both saw the same moments of the machine)."""
    a, b = np.asarray(numerator), np.asarray(denominator)
    blocks = [
        np.median(x) / np.median(y)
        for x, y in zip(
            np.array_split(a, RATIO_BLOCKS), np.array_split(b, RATIO_BLOCKS), strict=True
        )
        if len(x) and len(y)
    ]
    return {
        "p50_ratio": float(np.median(a) / np.median(b)),
        "block_min": float(min(blocks)),
        "block_max": float(max(blocks)),
    }
