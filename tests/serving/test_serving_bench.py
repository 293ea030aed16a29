"""`scripts/bench_serving.py` (`serving.benchmarks.main`) runs end to end with a tiny budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from serving.benchmarks import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_serving_script_reports_latency_ratios_and_throughput(model_root, tmp_path):
    report_path = tmp_path / "bench.json"
    session_config = tmp_path / "session.config"
    session_config.write_text("experimental { disable_thread_spinning: true }\n")
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "scripts", "bench_serving.py"),
            f"--saved-model={model_root}/keras_model",
            "--concurrency=3",
            "--requests=4",
            "--ceiling-seconds=0.2",
            # Every server started with these flags must accept them, or the run fails.
            "--intra-op-threads=1",
            "--inter-op-threads=2",
            f"--session-config={session_config}",
            f"--json={report_path}",
            "--protocol=v2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("in process", "gRPC", "REST", "batching / no batching at 3 clients"):
        assert text in result.stdout
    report = json.loads(report_path.read_text())
    assert report["model"].endswith(os.path.join("keras_model", "2"))
    threads = report["tensorflow_threads"]
    assert (threads["intra_op"], threads["inter_op"]) == (1, 2)
    assert report["session_config"] == "experimental { disable_thread_spinning: true }"
    # One intra-op thread per TF call: one batch thread per core fills the cores.
    assert report["num_batch_threads"] == (os.cpu_count() or 1)
    assert "TF thread pools, every side: intra_op 1, inter_op 2; batch threads" in result.stdout
    for key in ("in_process", "grpc", "rest", "grpc_minimal_server", "grpc_floor"):
        assert 0 < report["latency"][key]["p50_ms"] <= report["latency"][key]["p99_ms"]
    for label in ("no_batching", "batching", "grpc_floor"):
        for clients in ("1", "3"):
            assert report["throughput"][label][clients]["requests_per_s"] > 0
        assert report["scaling_n_over_1"][label] > 0
    assert report["ratios"]["grpc_p50_over_in_process"] > 0
    # --protocol v2: V2's calls in the same turns, and their ratios to TF Serving's.
    for kind in ("grpc", "rest"):
        assert report["latency"][f"{kind}_v2"]["p50_ms"] > 0
        ratio = report["latency"]["v2_over_tf"][kind]
        assert 0 < ratio["block_min"] <= ratio["block_max"]
    assert "V2 / TF Serving protocol, REST: p50 x" in result.stdout
    # The batcher's own count of events per TF call, and what batching could gain at most.
    assert report["throughput"]["batching"]["3"]["mean_batch_size"] >= 1
    assert report["in_process_ceiling"]["full_batch_over_batch_1"] > 0


def test_bench_serving_without_a_model_says_what_to_pass(tmp_path, capsys):
    assert main([f"--saved-model={tmp_path}"]) == 1
    assert "Expected --saved-model to be a model base path" in capsys.readouterr().err


def test_bench_serving_refuses_negative_thread_counts(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--intra-op-threads=-1"])
    assert exit_info.value.code == 2
    assert "Expected --intra-op-threads and --inter-op-threads >= 0" in capsys.readouterr().err


def test_batching_config_admits_the_largest_warmup_batch(tmp_path):
    # A warm-up request larger than max_batch_size would stop the batching server loading
    # the model (as in TF Serving), e.g. `--concurrency=2` against an export warmed at 4.
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from serving.benchmarks.run import largest_warmup_batch
    from serving.warmup import write_warmup_requests

    assert largest_warmup_batch(str(tmp_path)) == 0
    requests = []
    for batch in (1, 4, 2):
        request = predict_pb2.PredictRequest()
        request.inputs["y"].CopyFrom(tf.make_tensor_proto(np.zeros([batch, 3], np.float32)))
        requests.append(request)
    write_warmup_requests(str(tmp_path), requests)
    assert largest_warmup_batch(str(tmp_path)) == 4


def test_throughput_counts_only_the_time_all_clients_were_sending():
    from serving.benchmarks.throughput import steady_state

    # Client a starts at 0 and answers every second until 6; client b starts at 1 and
    # answers every 2 s until 5. Both sent from 1 to 5: a's answers at 2..5, b's at 3 and 5.
    a = [[t, t + 1.0] for t in range(6)]
    b = [[1.0, 3.0], [3.0, 5.0]]
    assert steady_state([a, b]) == (4.0, 6)
    # One client: its whole span and all its answers.
    assert steady_state([a]) == (6.0, 6)
    # Clients that never overlap: the whole span.
    assert steady_state([[[0.0, 1.0]], [[2.0, 3.0]]]) == (3.0, 2)


def test_bench_and_query_are_subcommands_of_the_model_server(capsys):
    # `pg-model-server bench|query` (also `python -m serving bench|query`) reach their
    # commands; --help answers without starting anything.
    from serving.__main__ import main as server_main

    with pytest.raises(SystemExit) as exit_info:
        server_main(["bench", "--help"])
    assert exit_info.value.code == 0 and "--concurrency" in capsys.readouterr().out
    assert server_main(["query", "--help"]) == 0
    assert "--server" in capsys.readouterr().out


def test_v2_ratio_is_of_medians_with_the_range_of_its_blocks():
    from serving.benchmarks.protocols import RATIO_BLOCKS, ratio_with_range

    tf_times = [1.0] * (2 * RATIO_BLOCKS)
    v2_times = [1.1] * 2 + [1.3] * 2 + [1.2] * (2 * RATIO_BLOCKS - 4)
    ratio = ratio_with_range(v2_times, tf_times)
    assert ratio["p50_ratio"] == pytest.approx(1.2)
    assert (ratio["block_min"], ratio["block_max"]) == (pytest.approx(1.1), pytest.approx(1.3))
