"""Throughput over gRPC: closed-loop client processes in rounds, the batcher's batch sizes,
and the in-process ceiling of any batching gain."""

from __future__ import annotations

import http.client
import json
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from serving.benchmarks._processes import python_module
from serving.benchmarks.latency import percentiles_ms

__all__ = [
    "METRICS_PATH",
    "THROUGHPUT_ROUNDS",
    "Clients",
    "batches_run",
    "in_process_ceiling",
    "steady_state",
    "throughput_in_turns",
]


def steady_state(calls: Sequence[Sequence[Sequence[float]]]) -> tuple[float, int]:
    """(seconds, answers) while all clients were sending: from the last client's first
    request to the first client's last answer, so that neither the clients starting nor them
    finishing one by one count. `calls` holds each client's [start, end] times in order."""
    begin = max(client[0][0] for client in calls)
    end = min(client[-1][1] for client in calls)
    if end <= begin:
        # Too few requests for the clients ever to overlap: take the whole span.
        begin = min(client[0][0] for client in calls)
        end = max(client[-1][1] for client in calls)
    return end - begin, sum(begin < finish <= end for client in calls for _, finish in client)


class Clients:
    """`count` closed-loop client processes on one server, started and warmed up once, then
    set going together as often as asked."""

    def __init__(self, port: int, request: object, count: int) -> None:
        payload = request.SerializeToString()
        self._processes = [
            python_module(
                "serving.benchmarks.load_client",
                [f"--port={port}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=False,
            )
            for _ in range(count)
        ]
        try:
            for process in self._processes:
                process.stdin.write(struct.pack("<I", len(payload)) + payload)
                process.stdin.flush()
            for process in self._processes:
                if process.stdout.readline().strip() != b"ready":
                    raise RuntimeError("A benchmark client failed during warm-up")
        except BaseException:
            self.close()
            raise

    def run(self, per_client: int) -> tuple[list[float], float, int]:
        """Each client sends `per_client` requests. Returns every request's latency and
        `steady_state` of the calls."""
        for process in self._processes:
            process.stdin.write(f"{per_client}\n".encode())
            process.stdin.flush()
        answers = [process.stdout.readline() for process in self._processes]
        if any(not answer.strip() for answer in answers):
            raise RuntimeError("A benchmark client failed; see its error above")
        calls = [json.loads(answer) for answer in answers]
        latencies = [finish - start for client in calls for start, finish in client]
        return latencies, *steady_state(calls)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.wait()


# Rounds of one client and N clients on every server, alternated, so that all phases see
# the same machine: on this shared VM the in-process p50 moved between 3.3 and 6.1 ms from
# run to run of the same command, and one phase measured after the other caught different
# moments. The client processes start once, so rounds cost only their requests.
THROUGHPUT_ROUNDS = 4


def throughput_in_turns(
    ports: dict[str, int],
    request: object,
    clients: int,
    per_client: int,
    batches_run: dict[str, Callable[[], tuple[float, float]]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """For each server (label: gRPC port), requests per second and latency with one client
    (`4 * per_client` requests) and with `clients` clients (`per_client` each), in rounds
    that alternate the servers and the client counts; each rate is the pooled steady-state
    answers over the pooled steady-state time. For a server in `batches_run` (a reader of
    its batcher's counts), also the mean batch size while the `clients` clients ran."""
    batches_run = batches_run or {}
    counts = {1: max(2, 4 * per_client // THROUGHPUT_ROUNDS)}
    counts[clients] = max(2, per_client // THROUGHPUT_ROUNDS)
    pools: dict[tuple[str, int], Clients] = {}
    pooled = {(label, n): ([], 0.0, 0) for label in ports for n in counts}
    batched = {label: (0.0, 0.0) for label in batches_run}
    try:
        for label, port in ports.items():
            for n in counts:
                pools[label, n] = Clients(port, request, n)
        labels = list(ports)
        for round_ in range(THROUGHPUT_ROUNDS):
            shift = round_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                for n, count in counts.items():
                    counting = label in batches_run and n == clients
                    before = batches_run[label]() if counting else None
                    latencies, seconds, done = pools[label, n].run(count)
                    if before is not None:
                        after = batches_run[label]()
                        batches, events = batched[label]
                        batched[label] = (
                            batches + after[0] - before[0],
                            events + after[1] - before[1],
                        )
                    old = pooled[label, n]
                    pooled[label, n] = (old[0] + latencies, old[1] + seconds, old[2] + done)
    finally:
        for pool in pools.values():
            pool.close()
    report: dict[str, dict[str, dict[str, float]]] = {label: {} for label in ports}
    for (label, n), (latencies, seconds, done) in pooled.items():
        report[label][str(n)] = {"requests_per_s": done / seconds, **percentiles_ms(latencies)}
    for label, (batches, events) in batched.items():
        # Events per TF call while the N clients ran: what the batcher merged.
        report[label][str(clients)]["mean_batch_size"] = events / max(1.0, batches)
    return report


METRICS_PATH = "/monitoring/prometheus/metrics"
_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"


def batches_run(rest_port: int) -> tuple[float, float]:
    """(batches run, events in them) so far, from the server's Prometheus text."""
    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=60)
    try:
        connection.request("GET", METRICS_PATH)
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    totals = {"_count": 0.0, "_sum": 0.0}
    for line in text.splitlines():
        for suffix in totals:
            if line.startswith(_BATCH_SIZE + suffix):
                totals[suffix] += float(line.rsplit(" ", 1)[1])
    return totals["_count"], totals["_sum"]


def in_process_ceiling(
    servable: object, signature: str, inputs: dict[str, np.ndarray], clients: int, seconds: float
) -> dict[str, float]:
    """What batching can gain at most, measured without any server: events per second with
    `clients` threads each calling the signature on its own events, against one thread
    calling it on all `clients` requests' events at once (what a full batch is)."""
    batched = {a: np.concatenate([v] * clients, axis=0) for a, v in inputs.items()}
    events = clients * next(iter(inputs.values())).shape[0]

    def rate(call: Callable[[], object], threads: int, events_per_call: int) -> float:
        call()
        counts = [0] * threads
        stop = time.perf_counter() + seconds

        def loop(index: int) -> None:
            while time.perf_counter() < stop:
                call()
                counts[index] += 1

        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts) * events_per_call / (time.perf_counter() - start)

    one = rate(lambda: servable.run(signature, inputs), clients, events // clients)
    full = rate(lambda: servable.run(signature, batched), 1, events)
    return {
        "events_per_s_batch_1_concurrent": one,
        "events_per_s_full_batch": full,
        "full_batch_over_batch_1": full / one,
    }
