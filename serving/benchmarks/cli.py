"""`pg-model-server bench` (`python -m serving bench`): flags, the printed report, `--json`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from serving.benchmarks.run import BenchConfig, run_benchmark

__all__ = ["main", "print_report"]


def print_report(report: dict) -> None:
    n = str(report["concurrency"])
    print(f"model {report['model']}  signature {report['signature']}  inputs {report['inputs']}")
    threads = report["tensorflow_threads"]
    print(
        "TF thread pools, every side: "
        + ", ".join(f"{kind} {threads[kind] or 'TF default'}" for kind in ("intra_op", "inter_op"))
        + f"; batch threads {report['num_batch_threads']}"
        + (f"; session config {{ {report['session_config']} }}" if report["session_config"] else "")
    )
    print("per-event latency, 1 client, sequential, all in turns (ms):")
    rows = [
        ("in process", "in_process"),
        ("gRPC", "grpc"),
        ("REST", "rest"),
        ("min. gRPC", "grpc_minimal_server"),
        ("gRPC floor", "grpc_floor"),
    ]
    if "v2_over_tf" in report["latency"]:
        rows[3:3] = [("V2 gRPC", "grpc_v2"), ("V2 REST", "rest_v2")]
    for label, key in rows:
        stats = report["latency"][key]
        ratio = stats["p50_ms"] / report["latency"]["in_process"]["p50_ms"]
        print(
            f"  {label:<11} p50 {stats['p50_ms']:8.3f}  p99 {stats['p99_ms']:8.3f}  "
            f"p50 x{ratio:.2f} in-process"
        )
    if "v2_over_tf" in report["latency"]:
        for kind, label in (("grpc", "gRPC"), ("rest", "REST")):
            ratio = report["latency"]["v2_over_tf"][kind]
            print(
                f"  V2 / TF Serving protocol, {label}: p50 x{ratio['p50_ratio']:.3f} "
                f"(blocks of rounds: x{ratio['block_min']:.3f} to x{ratio['block_max']:.3f})"
            )
    print(
        "  (min. gRPC: a minimal grpcio server calling the same signature, written the "
        "obvious way: a peer; gRPC floor: grpcio alone around the same TF call, with no "
        "request or answer conversion)"
    )
    print(f"gRPC throughput (requests/s), 1 client vs {n} clients, steady state:")
    for label in ("no_batching", "batching", "grpc_floor"):
        one, many = report["throughput"][label]["1"], report["throughput"][label][n]
        print(
            f"  {label:<12} 1: {one['requests_per_s']:9.1f}   {n}: {many['requests_per_s']:9.1f}"
            f"   x{report['scaling_n_over_1'][label]:.2f}   p99 at {n}: {many['p99_ms']:.2f} ms"
            + (f"   mean batch {many['mean_batch_size']:.1f}" if "mean_batch_size" in many else "")
        )
    print(
        "  (grpc_floor: grpcio alone around the same TF call, as above: the scaling any Python "
        "gRPC server gets here)"
    )
    print(f"batching / no batching at {n} clients: x{report['batching_over_no_batching_at_n']:.2f}")
    ceiling = report["in_process_ceiling"]
    print(
        f"in process, no server (events/s): {n} threads of one event "
        f"{ceiling['events_per_s_batch_1_concurrent']:.1f}, one batch of {n} "
        f"{ceiling['events_per_s_full_batch']:.1f}: batching can gain at most "
        f"x{ceiling['full_batch_over_batch_1']:.2f}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pg-model-server bench", description=__doc__.splitlines()[0]
    )
    defaults = BenchConfig()
    parser.add_argument(
        "--saved-model",
        default=None,
        help="Model base path or version directory (default: saved_models/heat, else "
        "saved_models/sin).",
    )
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="Clients for throughput."
    )
    parser.add_argument(
        "--requests", type=int, default=defaults.requests, help="Requests per latency phase."
    )
    parser.add_argument("--rows", type=int, default=defaults.rows, help="Events per request.")
    parser.add_argument("--signature", default=defaults.signature)
    parser.add_argument("--batch-timeout-micros", type=int, default=defaults.batch_timeout_micros)
    parser.add_argument(
        "--num-batch-threads",
        type=int,
        default=None,
        help="Batch threads of the batching server (default: cores / intra-op threads, so "
        "that the batches running at once fill the cores).",
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=defaults.ceiling_seconds,
        help="Seconds for each in-process ceiling measurement (batch 1 vs a full batch).",
    )
    for kind in ("intra", "inter"):
        parser.add_argument(
            f"--{kind}-op-threads",
            type=int,
            default=0,
            help=f"TF {kind}-op threads for the servers (--tensorflow_{kind}_op_parallelism) "
            "and the in-process calls alike (default 0: TF's choice).",
        )
    parser.add_argument(
        "--session-config",
        default="",
        help="Text-format TF ConfigProto for the servers (--tensorflow_session_config_file) "
        "and the in-process calls alike, e.g. serving/deploy/session.config.",
    )
    parser.add_argument(
        "--protocol",
        choices=("tf", "v2"),
        default=defaults.protocol,
        help="v2: also time the Open Inference Protocol's REST and gRPC calls on the same "
        "server in the same turns, and print their p50 over TF Serving's protocol's.",
    )
    parser.add_argument("--json", default="", help="Also write the report to this JSON file.")
    return parser


def _default_batch_threads(intra_op_threads: int) -> int:
    # With TF's own intra-op pool one TF call on a batch already uses every core, and two
    # batch threads each took a batch half as full (mean 8 vs 15 events at 32 clients, 2
    # cores); with one intra-op thread a call uses one core, and one batch thread left the
    # other idle.
    cores = os.cpu_count() or 1
    return max(1, cores // (intra_op_threads or cores))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = BenchConfig(
            saved_model=args.saved_model,
            concurrency=args.concurrency,
            requests=args.requests,
            rows=args.rows,
            signature=args.signature,
            batch_timeout_micros=args.batch_timeout_micros,
            num_batch_threads=(
                _default_batch_threads(args.intra_op_threads)
                if args.num_batch_threads is None
                else args.num_batch_threads
            ),
            ceiling_seconds=args.ceiling_seconds,
            intra_op_threads=args.intra_op_threads,
            inter_op_threads=args.inter_op_threads,
            session_config=args.session_config,
            protocol=args.protocol,
        )
    except ValueError as e:
        parser.error(str(e))
    try:
        report = run_benchmark(config)
    except (ValueError, RuntimeError) as e:
        print(f"pg-model-server bench: error: {e}", file=sys.stderr)
        return 1
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
