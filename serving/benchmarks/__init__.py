"""`pg-model-server bench`: per-event latency and throughput of the model server.

In one run, on one SavedModel: per-event latency p50/p99 in process (the signature called
directly), over gRPC, over REST, through a minimal grpcio server written the obvious way (a
peer to compare ours with) and through grpcio alone around the same TF call (the floor of any
Python gRPC server), taken in turns so all see the same load, and their ratios; then
throughput over gRPC with one client and with `--concurrency` clients (each its own process;
rounds alternating the client counts and the servers), without and with `--enable_batching`
and through the grpcio floor, with the p99 latency at that concurrency and the batcher's mean
batch size; and the in-process ceiling of any batching gain. The servers run as
`python -m serving` subprocesses, so clients and server do not share an interpreter, as in
production.

Modules: `run` (what one run measures, `BenchConfig`, `run_benchmark`), `latency`,
`throughput`, `_processes` (starting and stopping what runs apart), and the programs
those processes run, `minimal_server` (the grpcio peer and floor) and `load_client`;
`cli` is the command (`pg-model-server bench`, `python -m serving bench`, or
`python scripts/bench_serving.py`).
"""

from serving.benchmarks.cli import main, print_report
from serving.benchmarks.run import BenchConfig, run_benchmark

__all__ = ["BenchConfig", "main", "print_report", "run_benchmark"]
