"""Flag types, the parser that reports bad input as one line, and the training flags.

Flag defaults and choices come from `pg_keras.config`, where they are written once.
"""

from __future__ import annotations

import argparse

from pg_keras.config import LR_SCHEDULES, OPTIMIZERS, STRATEGIES, TrainingConfig, default

__all__ = [
    "Parser",
    "UsageError",
    "add_spec_flag",
    "add_training_flags",
    "int_list",
    "name_list",
    "non_negative_int",
    "path_name",
    "positive_float",
    "positive_int",
]


class UsageError(Exception):
    """Bad command-line input; reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {least}, received {text!r}"
        ) from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, received {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {value}")
    return value


def int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers, received {text!r}"
        ) from None


def name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, received {text!r}")
    return names


def _spec_item(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, received {text!r}")
    return key.strip(), value.strip()


def path_name(problem: str) -> str:
    """A problem reference as a directory name (`MODULE:CLASS` -> `MODULE.CLASS`)."""
    return problem.replace(":", ".")


def add_spec_flag(
    parser: argparse.ArgumentParser,
    help: str = "override a field of the problem spec (repeatable), e.g. physics_dtype=float64",
) -> None:
    """`--spec KEY=VALUE` (repeatable): a list of `(key, value)`, refused by argparse
    with a clear message when an item has no `=`."""
    parser.add_argument(
        "--spec", type=_spec_item, action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `train` and `compare` share, with `TrainingConfig`'s defaults."""

    def config_default(field: str):
        return default(TrainingConfig, field)

    steps = config_default("steps")
    parser.add_argument("--steps", type=positive_int, default=steps, help="training steps")
    parser.add_argument("--batch", type=positive_int, help="batch size (default: the paper's)")
    parser.add_argument("--lr", type=positive_float, help="learning rate (default: the paper's)")
    parser.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default=config_default("lr_schedule"),
        help="constant (the paper's) or cosine: down to zero over --steps, for every scheme",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="what applies the gradients to the weights (default: each scheme's, the paper's)",
    )
    parser.add_argument(
        "--log-every", type=positive_int, help="steps per logged point and per compiled call"
    )
    add_spec_flag(parser)
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=config_default("strategy"),
        help="tf.distribute strategy: one device, all local devices, or TF_CONFIG's hosts",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=config_default("checkpoint_every"),
        help="steps between checkpoints",
    )
    parser.add_argument(
        "--max-skipped-steps",
        type=positive_int,
        default=config_default("max_skipped_steps"),
        help="stop after this many non-finite (NaN/Inf) steps in a row",
    )
    parser.add_argument(
        "--calibration-batches",
        type=non_negative_int,
        default=config_default("calibration_batches"),
        help="batches on which batch norm's inference statistics are recomputed after "
        "training (0: keep Keras's moving average)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
