"""`make demo`: the whole path a user takes, on sin(a/x).

1. Train with the analytic-inverse physical gradient and with backprop (Adam), from the
   same weights and data; write TensorBoard logs and a learning-curve PNG.
2. Export the PG-trained network as a SavedModel for TF Serving.
3. Start the model server (`python -m serving`, flags as tensorflow_model_server's),
   query one event over gRPC and one over REST, print x, the residual and the
   per-event latency, and stop the server.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL = "sin"
LATENCY_REQUESTS = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(model_dir: pathlib.Path) -> tuple[subprocess.Popen, int, int]:
    """Starts the server on free ports; returns it with the gRPC and REST ports it reports."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "serving", f"--port={_free_port()}",
            f"--rest_api_port={_free_port()}",
            f"--model_name={MODEL}", f"--model_base_path={model_dir.resolve()}",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    ports = {}
    deadline = time.monotonic() + 120
    while len(ports) < 2 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"The model server exited with code {process.returncode}")
        found = re.search(r"(gRPC ModelServer|HTTP/REST API) at:? ?[\d.]+:(\d+)", line)
        if found:
            ports[found.group(1)] = int(found.group(2))
    if len(ports) < 2:
        process.kill()
        raise RuntimeError("The model server did not report its ports within 120 s")
    return process, ports["gRPC ModelServer"], ports["HTTP/REST API"]


def _query(url: str, event: np.ndarray) -> tuple[dict, list[float]]:
    from serving.client import Client

    with Client(url) as client:
        outputs = client.predict(MODEL, {"a": event}, signature="with_residual")
        latencies = []
        for _ in range(LATENCY_REQUESTS):
            start = time.perf_counter()
            client.predict(MODEL, {"a": event})
            latencies.append(1000.0 * (time.perf_counter() - start))
    return outputs, latencies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--logdir", default="runs/demo")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps: expected a whole number > 0, received {args.steps}")

    from pg_keras.config import CompareConfig
    from pg_keras.export import export_run
    from pg_keras.plotting import plot_learning_curves
    from pg_keras.training.compare import compare, write_report

    logdir = pathlib.Path(args.logdir)
    start = time.perf_counter()
    print(f"1. Training sin(a/x) for {args.steps} steps: analytic-inverse PG vs backprop (Adam)")
    config = CompareConfig("sin", ("inverse-physics", "adjoint"), args.steps, seeds=(5,))
    report = compare(config, logdir)
    write_report(report, logdir / "report.json")
    plot_learning_curves(report, logdir / "curves.png")
    for name, result in report["results"].items():
        final = result["final"]
        print(
            f"   {name:<16} y_loss {final['y_loss']:.2e}   x_mae {final['x_mae']:.2e}   "
            f"{result['step_time_ms']['median']:.2f} ms/step"
        )

    version_dir = export_run(logdir / "inverse-physics" / "seed5", MODEL, logdir / "saved_models")
    print(f"2. Exported the PG-trained network: {version_dir}")

    print("3. Serving it (python -m serving) and querying one event per protocol")
    server, grpc_port, rest_port = _start_server(version_dir.parent)
    try:
        event = np.array([[2.5]], np.float32)
        for label, url in (("gRPC", f"grpc://127.0.0.1:{grpc_port}"),
                           ("REST", f"http://127.0.0.1:{rest_port}")):  # fmt: skip
            outputs, latencies = _query(url, event)
            x = float(outputs["x"].reshape(-1)[0])
            residual = float(outputs["residual"].reshape(-1)[0])
            print(
                f"   {label} {url}: a = 2.5 -> x = {x:.6f} (sin(a/x) = {np.sin(2.5 / x):.6f}), "
                f"residual ½(P(x) − y*)² = {residual:.2e}, latency p50 "
                f"{statistics.median(latencies):.2f} ms over {LATENCY_REQUESTS} requests"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print("   Server stopped.")

    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    print(f"  Learning curves: {logdir / 'curves.png'}")
    print(f"  Report:          {logdir / 'report.json'}")
    print(f"  SavedModel:      {version_dir}")
    print(
        f"  TensorBoard:     .venv/bin/tensorboard --logdir {logdir}   "
        "(then open http://localhost:6006)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
