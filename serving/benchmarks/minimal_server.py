"""A peer for our gRPC latency: a minimal grpcio PredictionService, its own process.

`--mode=minimal`: Predict only decodes the request with `tf.make_ndarray`, calls the
same signature and answers with `tf.make_tensor_proto`; no model manager, checks,
metrics or typed fields: what a Python gRPC server written the obvious way costs on
this machine.

`--mode=floor`: it decodes the first request and builds the first answer only once,
then for every request just runs the signature on those inputs and returns that
answer: what grpcio itself costs around the TF call, the least any Python gRPC server
could add. Its throughput with one and with N clients, measured in turns with ours, is
the scaling any Python gRPC server would see on this machine.

Prints "ready" once serving; runs until killed.

    python -m serving.benchmarks.minimal_server --saved-model=DIR --port=N [--mode=floor]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent import futures

__all__ = ["main"]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.benchmarks.minimal_server")
    parser.add_argument("--saved-model", required=True, help="SavedModel version directory")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--intra-op-threads", type=int, default=0)
    parser.add_argument("--inter-op-threads", type=int, default=0)
    parser.add_argument("--session-config", default="", help="text-format TF ConfigProto")
    parser.add_argument("--mode", choices=("minimal", "floor"), default="minimal")
    parser.add_argument("--max-threads", type=int, default=4, help="gRPC worker threads")
    return parser.parse_args(argv)


def _servicer(function, floor: bool):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    cached: list = []

    class Minimal(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - the gRPC method's name
            if cached:
                function(**cached[0])
                return cached[1]
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            response = predict_pb2.PredictResponse()
            for alias, tensor in function(**inputs).items():
                response.outputs[alias].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
            if floor:
                cached.extend([inputs, response])
            return response

    return Minimal()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from serving import tf_runtime

    session = tf_runtime.read_session_config(args.session_config) if args.session_config else None
    tf_runtime.configure(session, args.intra_op_threads, args.inter_op_threads)
    function = tf.saved_model.load(args.saved_model).signatures[args.signature]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.max_threads),
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _servicer(function, args.mode == "floor"), server
    )
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
