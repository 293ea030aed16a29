"""The report of `scripts/mutants.py`: cached outcomes and their keys, equivalence reasons,
and each module's counts and score in `docs/reports/mutants.json`.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

from scripts._mutants_make import Mutant, mutant_key

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "reports" / "mutants.json"
EQUIVALENT = ROOT / "docs" / "reports" / "mutants_equivalent.json"


def cache_key(source: str, tests: list[str], mutant: Mutant, root: pathlib.Path = ROOT) -> str:
    """What a cached outcome depends on: the mutant and the sources of the tests it met."""
    digest = hashlib.sha256(mutant_key(source, mutant).encode())
    for path in sorted(tests):
        digest.update(path.encode() + b"\0" + (root / path).read_bytes())
    for conftest in sorted(root.glob("tests/**/conftest.py")):
        digest.update(conftest.read_bytes())
    return digest.hexdigest()[:20]


def equivalent_reasons(path: pathlib.Path = EQUIVALENT) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def equivalence_key(module: str, source_line: str, mutant: Mutant) -> str:
    return f"{module}::{source_line.strip()}::{mutant.description}"


def summarise(module: str, results: list[dict], reasons: dict[str, str]) -> dict:
    """A module's counts, score and survivors (each with its equivalence reason, if any)."""
    survivors = []
    for result in results:
        if result["outcome"] == "survived":
            reason = reasons.get(result["equivalence_key"])
            survivors.append({**result, "equivalent": reason})
    equivalent = sum(1 for s in survivors if s["equivalent"])
    killed = sum(1 for r in results if r["outcome"] == "killed")
    live = len(results) - equivalent
    return {
        "mutants": len(results),
        "killed": killed,
        "survived": len(survivors),
        "equivalent": equivalent,
        "score": round(killed / live, 4) if live else None,
        "survivors": survivors,
    }


def scores(modules: dict[str, dict]) -> dict[str, dict]:
    """Each module's counts and score, keyed by its path without `.py` (so docs can name
    it in a dotted JSON path)."""
    keys = ("planned", "mutants", "killed", "survived", "equivalent", "score")
    return {
        module.removesuffix(".py"): {key: entry.get(key) for key in keys}
        for module, entry in modules.items()
    }


def load(report: pathlib.Path) -> dict:
    return json.loads(report.read_text()) if report.exists() else {"modules": {}}


def save(report: pathlib.Path, data: dict) -> None:
    """Writes `data` whole or not at all (a run interrupted mid-write keeps the last report)."""
    partial = report.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(report)


def timed_out(result: dict) -> bool:
    """Whether `result` is a kill by the harness's timeout, not by a failing test."""
    return result["outcome"] == "killed" and result["detail"].startswith("timeout")


def reusable(data: dict, module: str, fresh: bool, retry_timeouts: bool = False) -> dict[str, dict]:
    """Earlier outcomes by full key, and killed ones also by mutant key: a killed mutant stays
    killed while its module is unchanged (tests are added to kill survivors, not removed).

    With `retry_timeouts`, kills by timeout are not reused: a run on a loaded machine can
    time out a mutant that the tests would have passed."""
    if fresh:
        return {}
    earlier = data["modules"].get(module, {}).get("results", [])
    if retry_timeouts:
        earlier = [r for r in earlier if not timed_out(r)]
    by_key = {r["key"]: r for r in earlier}
    by_key.update({r["mutant_key"]: r for r in earlier if r["outcome"] == "killed"})
    return by_key
