"""Running one mutant for `scripts/mutants.py`: the module rewritten in place for the length
of one `pytest -x` run in a forked child, and restored in a `finally`.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import time
from collections.abc import Iterator

from scripts._mutants_make import Mutant, mutated_source


@contextlib.contextmanager
def mutant_in_place(path: pathlib.Path, text: str) -> Iterator[None]:
    """`path` holds `text` inside the block and its original bytes and mtime after it.

    The mutant gets an mtime of its own so that no cached bytecode of the original (or of
    an earlier mutant of the same size) is used for it.
    """
    original = path.read_bytes()
    stat = path.stat()
    try:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + time.time_ns() % 10**9 + 10**9))
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def run_tests(
    tests: list[str], timeout: float, log: pathlib.Path, cwd: pathlib.Path
) -> tuple[str, str]:
    """`("killed"|"survived", detail)` for one pytest -x run, from `cwd`, in a forked child."""
    pid = os.fork()
    if pid == 0:  # the child: fresh project imports, output to `log`
        _child(tests, log, cwd)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # as the child does, whichever runs first
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = None
                return _outcome(os.waitstatus_to_exitcode(status), log)
            time.sleep(0.2)
        return "killed", f"timeout after {timeout:.0f} s"
    finally:
        if pid is not None:  # a timeout, or the harness itself interrupted
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _child(tests: list[str], log: pathlib.Path, cwd: pathlib.Path) -> None:
    code = 3
    try:
        os.setpgid(0, 0)  # so a timeout ends the tests' own subprocesses too
        sys.dont_write_bytecode = True
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        import pytest

        os.chdir(cwd)
        code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests]))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _outcome(code: int, log: pathlib.Path) -> tuple[str, str]:
    if code == 0:
        return "survived", ""
    failed = [line for line in log.read_text(errors="replace").splitlines() if "FAILED" in line]
    detail = failed[0].split(" - ")[0].replace("FAILED ", "") if failed else f"pytest exit {code}"
    return "killed", detail


def baseline_seconds(tests: list[str], log: pathlib.Path, cwd: pathlib.Path) -> float | None:
    """How long the unmutated tests take; None if they fail (the module cannot be judged)."""
    start = time.monotonic()
    outcome, _ = run_tests(tests, 900, log, cwd)
    return time.monotonic() - start if outcome == "survived" else None


def run_one(
    path: pathlib.Path,
    source: str,
    mutant: Mutant,
    key: str,
    tests: list[str],
    baseline: float,
    log: pathlib.Path,
    cwd: pathlib.Path,
) -> dict:
    """Runs `tests` against `mutant` written over `path`, with a timeout scaled to `baseline`."""
    start = time.monotonic()
    with mutant_in_place(path, mutated_source(source, mutant)):
        outcome, detail = run_tests(tests, max(3 * baseline, baseline + 60), log, cwd)
    return {
        "key": key,
        "line": mutant.line,
        "description": mutant.description,
        "outcome": outcome,
        "detail": detail,
        "seconds": round(time.monotonic() - start, 1),
    }
