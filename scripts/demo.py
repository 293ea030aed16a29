"""`make demo`: train sin(a/x) with the analytic physical gradient and with backprop,
write TensorBoard logs and a learning-curve PNG, and say where they are."""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--logdir", default="runs/demo")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps: expected a whole number > 0, received {args.steps}")

    from pg_keras.plotting import plot_learning_curves
    from pg_keras.training.compare import compare, write_report

    logdir = pathlib.Path(args.logdir)
    start = time.perf_counter()
    print(f"Training sin(a/x) for {args.steps} steps: analytic-inverse PG vs backprop (Adam)")
    report = compare("sin", ["inverse-physics", "adjoint"], args.steps, [5], logdir)
    write_report(report, logdir / "report.json")
    plot_learning_curves(report, logdir / "curves.png")
    print()
    for name, result in report["results"].items():
        final = result["final"]
        print(
            f"  {name:<16} y_loss {final['y_loss']:.2e}   x_mae {final['x_mae']:.2e}   "
            f"{result['step_time_ms']['median']:.2f} ms/step"
        )
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    print(f"  Learning curves: {logdir / 'curves.png'}")
    print(f"  Report:          {logdir / 'report.json'}")
    print(
        f"  TensorBoard:     .venv/bin/tensorboard --logdir {logdir}   (then open http://localhost:6006)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
