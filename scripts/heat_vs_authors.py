"""Heat (paper 3.3) against the authors' stack, and which of our choices matter.

    python -m scripts.heat_vs_authors ablation [--seeds 0,1 --steps 300 --out FILE]
    python -m scripts.heat_vs_authors authors --peer-python PY --peer-script FILE \\
        [--seeds 0,1 --steps 300 --bench-rounds 3 --out FILE]

`ablation` trains the PG and backprop (adjoint) for each row of `ROWS`, a
set of spec overrides, with `pg-keras compare`'s code (300 steps, batch 32,
log every 5) and writes the mean training-mode x_mae over the last 50 steps
per row, scheme and seed (`docs/reports/heat_ablation.json`).

`authors` runs the authors' stack as a yardstick beside ours, in this one
session: the peer script's `learn` per seed (`--out` curves) and its `bench`,
our `compare` with the defaults, and `bench-train heat`, the two benchmarks
alternated `--bench-rounds` times. The time to accuracy is the wall time our
PG needs until its 50-step running mean first reaches the authors' SIP error
over steps 251–300 (steps × our step with data), against the authors' 300
steps at their step time with data. The peer script is not part of this
project (a user's clone does not have it): pass its path and its Python.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import statistics
import subprocess
import sys

from pg_keras.benchmarks.train_speed import bench_rules
from pg_keras.cli._args import add_spec_flag
from pg_keras.config import CompareConfig
from pg_keras.networks import resolve_network_dtype
from pg_keras.training.compare import compare
from pg_keras.training.curves import curve

SCHEMES = ("inverse-physics", "adjoint")
WINDOW = 50  # steps averaged at the end of training and in the running mean
LOG_EVERY = 5
_BEFORE = {
    "box_edges": "hard",
    "clip_boxes": False,
    "network_init": "glorot",
    "network_output_init": "glorot",
    "bn_epsilon": 1e-3,
}
_AUTHORS = {"network_init": "fan-in-uniform", "network_output_init": "fan-in-uniform"}

#: (label, spec overrides): the earlier defaults, the authors' choices one by one, then ours.
#: Every row computes in float32 (`FLOAT32_NETWORK`) unless it says otherwise, so the table
#: is about the learning choices on any machine; the last row is the bfloat16 network.
ROWS = (
    ("before: hard boxes cut at the border, Keras init, batch-norm ε 1e-3", _BEFORE),
    (
        "authors' boxes (soft edges, clipped inside)",
        {**_BEFORE, "box_edges": "authors", "clip_boxes": True},
    ),
    ("+ PyTorch's conv init U(±1/√fan_in)", {**_AUTHORS, "bn_epsilon": 1e-3}),
    ("+ batch-norm ε 1e-5: the authors' setting throughout", _AUTHORS),
    (
        "authors' setting but hard boxes cut at the border",
        {**_AUTHORS, "box_edges": "hard", "clip_boxes": False},
    ),
    (
        "authors' setting but edges as the covered area (easier data)",
        {**_AUTHORS, "box_edges": "exact"},
    ),
    ("authors' setting, output layer at zero (our default)", {}),
    ("our default with Keras's glorot init for the hidden layers", {"network_init": "glorot"}),
    ("our default with a bfloat16 network", {"network_dtype": "bfloat16"}),
)


def tail_mean(points: list, steps: int) -> float:
    """Mean value of `[step, value]` points over the last `WINDOW` of `steps` steps."""
    return statistics.mean(value for step, value in points if step > steps - WINDOW)


def first_step_at(points: list, level: float, width: int) -> int | None:
    """The first step at which the running mean over `width` `[step, value]` points
    falls to `level`, None if never."""
    for end in range(width, len(points) + 1):
        window = [value for _, value in points[end - width : end]]
        if statistics.mean(window) <= level:
            return points[end - 1][0]
    return None


FLOAT32_NETWORK = {"network_dtype": "float32"}
#: The suffix of our schemes' step times with the float32 network (`--bench-float32`).
FLOAT32_SUFFIX = "/float32"


def run_ablation(
    seeds: list[int], steps: int, logdir: pathlib.Path, batch: int = 32, base: dict | None = None
) -> dict:
    rows = []
    for index, (label, spec) in enumerate(ROWS):
        print(f"[{index + 1}/{len(ROWS)}] {label}", flush=True)
        config = CompareConfig(
            "heat",
            SCHEMES,
            steps,
            tuple(seeds),
            batch_size=batch,
            log_every=LOG_EVERY,
            spec={**FLOAT32_NETWORK, **(base or {}), **spec},
            calibration_batches=0,
        )
        report = compare(config, logdir / f"row{index}", verbose=0)
        row = {"label": label, "spec": spec}
        for scheme in SCHEMES:
            row[scheme] = {
                str(run["seed"]): tail_mean(curve(run, "x_mae"), steps)
                for run in report["results"][scheme]["runs"]
            }
        rows.append(row)
        print(format_row(row, seeds), flush=True)
    return {
        **_header(steps, batch, seeds),
        "rows": rows,
    }


def _header(steps: int, batch: int, seeds: list[int]) -> dict:
    return {
        "problem": "heat",
        "steps": steps,
        "batch": batch,
        "seeds": seeds,
        "metric": f"mean x_mae (‖x − x*‖₁) over the last {WINDOW} steps, training mode",
    }


def format_row(row: dict, seeds: list[int]) -> str:
    cells = [f"{row[scheme][str(seed)]:.1f}" for scheme in SCHEMES for seed in seeds]
    return f"| {row['label']} | " + " | ".join(cells) + " |"


def _peer(python: str, script: str, *args: str) -> list[dict]:
    """Runs the peer script; returns the JSON objects it printed, one per line."""
    done = subprocess.run([python, script, *args], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _peer_learn(args, seed: int) -> dict:
    """The peer's `learn` output for `seed`: kept from an earlier run into the same
    `--workdir` when its steps, batch and seed match (the peer's learning is seeded, and
    it takes long on a loaded machine), else run now. Notes which in `learned`."""
    out = args.workdir / f"peer_seed{seed}.json"
    wanted = {"steps": args.steps, "batch": args.batch, "seed": seed}
    if out.exists():
        kept = json.loads(out.read_text())
        if all(kept.get(key) == value for key, value in wanted.items()):
            print(f"authors' stack: learn, seed {seed}: kept {out}", flush=True)
            return {**kept, "learned": f"earlier, {out.name} of {_mtime(out)}"}
    print(f"authors' stack: learn, seed {seed}", flush=True)
    _peer(
        args.peer_python,
        args.peer_script,
        "learn",
        "--modes",
        "adam,sip",
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
        "--seed",
        str(seed),
        "--out",
        str(out),
    )
    return {**json.loads(out.read_text()), "learned": "in this run"}


def _mtime(path: pathlib.Path) -> str:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC).isoformat()


def run_authors(args) -> dict:
    steps, seeds = args.steps, args.seeds
    learned = {seed: _peer_learn(args, seed) for seed in seeds}
    peer_curves = {seed: run["results"] for seed, run in learned.items()}
    print("ours: compare", flush=True)
    config = CompareConfig(
        "heat",
        SCHEMES,
        steps,
        tuple(seeds),
        batch_size=args.batch,
        log_every=LOG_EVERY,
        spec=args.spec,
    )
    ours = compare(config, args.workdir / "ours", verbose=0)
    variants = {"": args.spec}
    if args.bench_float32:
        variants[FLOAT32_SUFFIX] = {**args.spec, **FLOAT32_NETWORK}
    peer_ms = {"sip": [], "adam": []}
    our_ms = {scheme + suffix: [] for suffix in variants for scheme in SCHEMES}
    for round_ in range(args.bench_rounds):
        print(f"benchmarks, round {round_ + 1} of {args.bench_rounds}", flush=True)
        for row in _peer(
            args.peer_python,
            args.peer_script,
            "bench",
            "--modes",
            "sip,adam",
            "--batches",
            str(args.batch),
            "--warmup",
            "10",
            "--steps",
            "30",
        ):
            if "mode" in row:
                peer_ms[row["mode"]].append(row["total_ms_median"])
        for suffix, spec in variants.items():
            for report in bench_rules(
                "heat", SCHEMES, batch_size=args.batch, steps=args.bench_steps, spec=spec
            ):
                our_ms[report["gradient"] + suffix].append(
                    report["ms_per_step"]["with_data"]["median"]
                )
    report = summarise(steps, args.batch, seeds, peer_curves, ours, peer_ms, our_ms)
    return {
        **report,
        "network_dtype": resolve_network_dtype(args.spec.get("network_dtype", "auto")),
        "authors_learned": {str(s): run["learned"] for s, run in learned.items()},
    }


def _step_ratios(our_step: dict, authors_sip_ms: float) -> dict:
    """Our PG step against the authors' SIP step and against our adjoint step, per
    network dtype benchmarked."""
    ratios = {}
    for suffix in ("", FLOAT32_SUFFIX):
        pg, adjoint = our_step.get("inverse-physics" + suffix), our_step.get("adjoint" + suffix)
        if pg is not None:
            ratios[f"pg{suffix}_to_authors_sip"] = pg / authors_sip_ms
            ratios[f"pg{suffix}_to_adjoint{suffix}"] = pg / adjoint
    return ratios


def summarise(steps, batch, seeds, peer_curves, ours, peer_ms, our_ms) -> dict:
    peer_step = {mode: statistics.median(times) for mode, times in peer_ms.items()}
    our_step = {scheme: statistics.median(times) for scheme, times in our_ms.items()}
    per_seed = []
    for k, seed in enumerate(seeds):
        peer = peer_curves[seed]
        pg_run = ours["results"]["inverse-physics"]["runs"][k]
        adjoint_run = ours["results"]["adjoint"]["runs"][k]
        sip_level = peer["sip"]["l1_last50"]
        pg_curve = curve(pg_run, "x_mae")
        hit = first_step_at(pg_curve, sip_level, WINDOW // LOG_EVERY)
        ours_s = None if hit is None else hit * our_step["inverse-physics"] / 1000
        authors_s = steps * peer_step["sip"] / 1000
        per_seed.append(
            {
                "seed": seed,
                "authors": {"sip": sip_level, "adam": peer["adam"]["l1_last50"]},
                "ours": {
                    "inverse-physics": tail_mean(curve(pg_run, "x_mae"), steps),
                    "adjoint": tail_mean(curve(adjoint_run, "x_mae"), steps),
                },
                "pg_steps_to_authors_sip": hit,
                "time_to_authors_sip_s": {"ours": ours_s, "authors": authors_s},
                "time_to_accuracy_speedup": None if ours_s is None else authors_s / ours_s,
            }
        )
    return {
        **_header(steps, batch, seeds),
        "per_seed": per_seed,
        "step_ms_with_data": {
            "authors": peer_ms,
            "ours": our_ms,
            "median": {"authors": peer_step, "ours": our_step},
        },
        "step_ratios": _step_ratios(our_step, peer_step["sip"]),
        "authors_curves": {
            str(s): {m: r["curve"] for m, r in c.items()} for s, c in peer_curves.items()
        },
        "ours": ours,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("ablation", "authors"):
        command = sub.add_parser(name)
        command.add_argument(
            "--seeds", type=lambda t: [int(s) for s in t.split(",")], default=[0, 1]
        )
        command.add_argument("--steps", type=int, default=300)
        command.add_argument(
            "--out",
            type=pathlib.Path,
            default=pathlib.Path(
                f"docs/reports/heat_{'ablation' if name == 'ablation' else 'vs_authors'}.json"
            ),
        )
        command.add_argument(
            "--workdir", type=pathlib.Path, default=pathlib.Path(f"runs/heat-{name}")
        )
        command.add_argument("--batch", type=int, default=32)
        add_spec_flag(command, help="heat spec override for every run (e.g. a smaller grid)")
    authors = sub.choices["authors"]
    authors.add_argument("--peer-python", required=True, help="the Python of the peer's venv")
    authors.add_argument("--peer-script", required=True, help="heat_sip_phiflow.py")
    authors.add_argument("--bench-rounds", type=int, default=3)
    authors.add_argument("--bench-steps", type=int, default=40, help="our timed steps per round")
    authors.add_argument(
        "--bench-float32",
        action="store_true",
        help="also time our network in float32 (where the default computes in bfloat16)",
    )
    args = parser.parse_args(argv)
    if args.steps <= WINDOW:
        parser.error(f"expected --steps > {WINDOW}, received {args.steps}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.spec = dict(args.spec)
    if args.command == "ablation":
        report = run_ablation(args.seeds, args.steps, args.workdir, args.batch, args.spec)
    else:
        report = run_authors(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    if args.command == "authors":
        for entry in report["per_seed"]:
            print(json.dumps(entry))
        print(json.dumps(report["step_ratios"]))


if __name__ == "__main__":
    main(sys.argv[1:])
