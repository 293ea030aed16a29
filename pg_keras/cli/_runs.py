"""`pg-keras export`, `calibrate` and `bench-train`: what is done with a run, and its cost."""

from __future__ import annotations

import pathlib

from pg_keras.cli._args import UsageError, name_list
from pg_keras.cli._training import check_names

__all__ = ["run_bench_train", "run_calibrate", "run_export"]


def run_export(args) -> int:
    from pg_keras.export import check_model_name, export_run

    check_model_name(args.name)
    run_dir = pathlib.Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(
            f"pg-keras export: run directory {args.run_dir!r} does not exist; "
            "expected a directory written by `pg-keras train`"
        )
    version_dir = export_run(run_dir, args.name, args.base_path)
    print(f"Exported {run_dir} as {args.name} version {version_dir.name}: {version_dir}")
    print(
        f"Serve: python -m serving --model_name={args.name} "
        f"--model_base_path={version_dir.parent.resolve()}"
    )
    return 0


def run_calibrate(args) -> int:
    from pg_keras.training.checkpoints import calibrate_run, evaluate_run

    run_dir = pathlib.Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(
            f"pg-keras calibrate: run directory {args.run_dir!r} does not exist; "
            "expected a directory written by `pg-keras train`"
        )
    before = evaluate_run(run_dir)
    used = calibrate_run(run_dir, args.batches)
    if not used:
        print(f"{run_dir}: the network has no batch norm; checkpoint unchanged")
        return 0
    after = evaluate_run(run_dir)
    print(
        f"{run_dir}: batch-norm statistics recomputed on {used} batches; in inference mode "
        f"x_mae {before['x_mae']:.4g} -> {after['x_mae']:.4g}, "
        f"y_loss {before['y_loss']:.4g} -> {after['y_loss']:.4g}"
    )
    return 0


def run_bench_train(args) -> int:
    from pg_keras.benchmarks.threads import set_thread_pools
    from pg_keras.benchmarks.train_speed import bench_rules, format_report, write

    spec = dict(args.spec)
    gradients = name_list(args.gradient)
    check_names(args.problem, gradients, spec)
    # Only before TensorFlow's runtime starts, which in a fresh `pg-keras` process no
    # command has done yet.
    try:
        set_thread_pools(intra_op=args.intra_op_threads, inter_op=args.inter_op_threads)
    except RuntimeError as error:
        raise UsageError(
            "--intra-op-threads/--inter-op-threads need a process where TensorFlow has not "
            f"run yet ({error})"
        ) from None
    reports = bench_rules(
        args.problem,
        gradients,
        batch_size=args.batch,
        steps=args.steps,
        steps_per_call=args.steps_per_call,
        spec=spec,
        jit_compile=args.xla,
        profile_dir=args.profile,
    )
    for report in reports:
        print(format_report(report) + "\n")
    for report in reports[:-1]:
        ratios = report["ratio_to"]
        print(
            f"{report['gradient']} step / {ratios['gradient']} step: "
            f"{ratios['with_data']:.2f}x with data, {ratios['without_data']:.2f}x without "
            "(timed in turns)"
        )
        if ratios["gradient_backward"] is not None:
            print(
                f"{report['gradient']} backward / {ratios['gradient']} backward: "
                f"{ratios['gradient_backward']:.2f}x (medians)"
            )
    if args.report:
        write(reports[0] if len(reports) == 1 else {"runs": reports}, args.report)
        print(f"Report: {args.report}")
    if args.profile:
        print(f"Profile: tensorboard --logdir {args.profile}  (Profile tab)")
    return 0
