"""The processes a serving benchmark starts: our server, the grpcio peers, the load clients.

Each is a real module run as `python -m ...` from the repository root, so clients and
servers never share an interpreter (or its GIL) with the benchmark, as in production.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

__all__ = ["ROOT", "MinimalGrpcServer", "ServerProcess", "free_port", "python_module"]

#: The repository root, where `serving` imports from.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_module(module: str, arguments: Sequence[str], **popen) -> subprocess.Popen:
    """`python -m module arguments...` with this interpreter, from the repository root."""
    return subprocess.Popen([sys.executable, "-m", module, *arguments], cwd=ROOT, **popen)


class ServerProcess:
    """`python -m serving` on free ports; stopped with SIGTERM."""

    def __init__(self, name: str, base_path: str, extra: Sequence[str] = ()) -> None:
        self.grpc_port, self.rest_port = free_port(), free_port()
        self._process = python_module(
            "serving",
            [
                f"--port={self.grpc_port}",
                f"--rest_api_port={self.rest_port}",
                f"--model_name={name}",
                f"--model_base_path={base_path}",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._log: list[str] = []

    def wait_ready(self, timeout_s: float = 300) -> None:
        assert self._process.stderr is not None
        deadline = time.monotonic() + timeout_s
        for line in self._process.stderr:
            self._log.append(line)
            if "Exporting HTTP/REST API" in line:
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("Model server exited during start-up:\n" + "".join(self._log))
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self._process.stderr], daemon=True).start()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class MinimalGrpcServer:
    """`serving.benchmarks.minimal_server` on a free port (see that module for what it is)."""

    def __init__(
        self,
        version_dir: str,
        signature: str,
        threads: tuple[int, int],
        session_config_file: str,
        floor: bool = False,
        max_threads: int = 4,
    ) -> None:
        self.port = free_port()
        intra, inter = threads
        self._process = python_module(
            "serving.benchmarks.minimal_server",
            [
                f"--saved-model={version_dir}",
                f"--signature={signature}",
                f"--port={self.port}",
                f"--intra-op-threads={intra}",
                f"--inter-op-threads={inter}",
                f"--session-config={session_config_file}",
                f"--mode={'floor' if floor else 'minimal'}",
                f"--max-threads={max_threads}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("The minimal gRPC server (the latency peer) failed to start")

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
