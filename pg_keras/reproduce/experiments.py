"""The paper's experiments as data: which comparisons, how long, and what the paper claims.

An `Experiment` is one section of the paper (sin 3.1, wave packet Fig. 1/8, Poisson 3.2,
heat 3.3, fluid 3.4): its comparisons of gradient schemes, the steps at which the paper
reports (`checkpoints`), the per-event solvers of its Table 1 (`table`), its figures, and
the paper's own numbers to print beside ours. Each comparison runs at a `Horizon`:

* `tiny`: a few steps on tiny specs, so the whole command runs in the test suite;
* `short`: 1000 steps (fluid 300), three seeds: what a session on 2 cores affords;
* `long`: the longest runs that fit this 2-core machine (issue 17): sin 20k, heat 10k,
  Poisson 5k, fluid 2k, the wave packet as in docs/wavepacket.md plus a 10k curve;
* `paper`: the paper's own batch sizes and horizons, for a GPU (`make venv-gpu`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pg_keras.config import BaselineConfig, CompareConfig

__all__ = [
    "EXPERIMENTS",
    "HORIZONS",
    "Comparison",
    "Experiment",
    "Horizon",
    "SolverTable",
    "get_experiment",
]

HORIZONS = ("tiny", "short", "long", "paper")


@dataclasses.dataclass(frozen=True)
class Horizon:
    """How long one comparison trains: steps, seeds, batch (None: the paper's), log
    interval (None: about 200 points) and the baseline's events (None: its own)."""

    steps: int
    seeds: tuple[int, ...]
    batch: int | None = None
    log_every: int | None = None
    baseline_events: int | None = None


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Gradient schemes trained from the same start (one `pg-keras compare`), at the
    horizons where it runs (`horizons`; a horizon not listed skips it).

    `reaches` names another comparison of the experiment: the report then also gives the
    steps each scheme here needs to reach that comparison's reference final error (the
    paper's L-BFGS PG, 628 iterations to Adam's 10k error, trained apart because each of
    its steps costs many of the adjoint's)."""

    name: str
    gradients: tuple[str, ...]
    horizons: Mapping[str, Horizon]
    spec: Mapping = dataclasses.field(default_factory=dict)
    baseline: BaselineConfig | None = None
    reaches: str | None = None

    def config(
        self, problem: str, horizon: str, seeds: tuple[int, ...] | None, tiny_spec: Mapping
    ) -> CompareConfig:
        """The `CompareConfig` of this comparison at `horizon` (`seeds` replace its own)."""
        chosen = self.horizons[horizon]
        spec = {**self.spec, **(tiny_spec if horizon == "tiny" else {})}
        baseline = self.baseline
        if baseline is not None and chosen.baseline_events is not None:
            baseline = dataclasses.replace(baseline, events=chosen.baseline_events)
        return CompareConfig(
            problem=problem,
            gradients=self.gradients,
            steps=chosen.steps,
            seeds=tuple(seeds or chosen.seeds),
            batch_size=chosen.batch,
            log_every=chosen.log_every,
            spec=spec,
            calibration_batches=2 if horizon == "tiny" else 50,
            baseline=baseline,
        )


@dataclasses.dataclass(frozen=True)
class SolverTable:
    """Paper Table 1: the network of `scheme` (its first seed) against per-event solvers,
    each up to its iteration cap, on `events` fresh events; `single` of them are also
    solved and inferred one at a time."""

    scheme: str
    solvers: Mapping[str, int]
    events: int = 16
    single: int = 4

    def at(self, horizon: str) -> SolverTable:
        """This table at `horizon`: the `tiny` one solves 2 events for 2 iterations."""
        if horizon != "tiny":
            return self
        return dataclasses.replace(self, events=2, single=1, solvers=dict.fromkeys(self.solvers, 2))


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One section of the paper: its comparisons, checkpoints, Table 1 and figures.

    Attributes:
        name, problem, section: the experiment, its problem, and the paper's section.
        comparisons: what is trained; the first is the main one.
        checkpoints: steps the paper reports at (ours at the logged point nearest each;
            the final step always).
        reference: the scheme others are measured against (ratios, steps to reach its
            final error, the paper's "138 vs 628" style).
        table: the per-event solver table, or None.
        figures: the figure kinds drawn (see `pg_keras.reproduce.figures`).
        paper: the paper's numbers, quoted beside ours.
        tiny_spec: spec overrides of the `tiny` horizon.
    """

    name: str
    problem: str
    section: str
    comparisons: tuple[Comparison, ...]
    checkpoints: tuple[int, ...]
    reference: str = "adjoint"
    table: SolverTable | None = None
    figures: tuple[str, ...] = ("curves",)
    paper: Mapping = dataclasses.field(default_factory=dict)
    tiny_spec: Mapping = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        names = [comparison.name for comparison in self.comparisons]
        for comparison in self.comparisons:
            if comparison.reaches is not None and comparison.reaches not in names:
                raise ValueError(
                    f"Expected `reaches` of comparison {comparison.name!r} to name another "
                    f"comparison of experiment {self.name!r} ({', '.join(names)}). "
                    f"Received: reaches={comparison.reaches!r}"
                )

    def runs(self, horizon: str) -> tuple[Comparison, ...]:
        """The comparisons that run at `horizon`."""
        return tuple(c for c in self.comparisons if horizon in c.horizons)


def _horizons(tiny: int, short: Horizon, long: Horizon, paper: Horizon | None = None) -> dict:
    return {
        "tiny": Horizon(tiny, short.seeds[:1], batch=2, log_every=1, baseline_events=2),
        "short": short,
        "long": long,
        "paper": paper or long,
    }


SIN_SCHEMES = ("adjoint", "newton", "inverse-gradient", "inverse-physics", "supervised")
SIN_HORIZONS = _horizons(
    4, Horizon(1000, (5, 6, 7)), Horizon(20000, (5, 6, 7, 8)), Horizon(20000, (5, 6, 7, 8))
)

SIN = Experiment(
    name="sin",
    problem="sin",
    section="3.1, B.2",
    comparisons=(
        Comparison("float32", SIN_SCHEMES, SIN_HORIZONS),
        Comparison(
            "float64", ("adjoint", "inverse-physics"), SIN_HORIZONS, {"physics_dtype": "float64"}
        ),
    ),
    checkpoints=(1000, 2000, 5000, 10000, 20000),
    reference="adjoint",
    paper={"x_mae inverse-physics": "~1e-5", "adjoint / inverse-physics": "~1000x"},
)

WAVEPACKET = Experiment(
    name="wavepacket",
    problem="wavepacket",
    section="Fig. 1, Fig. 8, B.1",
    comparisons=(
        Comparison(
            "fig8",
            ("adjoint", "gradient-descent", "newton", "lbfgs", "supervised"),
            _horizons(
                4,
                Horizon(1000, (0, 1, 2), log_every=5),
                Horizon(1500, (0, 1), log_every=5),
            ),
            baseline=BaselineConfig("scipy-lbfgsb", events=1000, iterations=1000),
        ),
        Comparison(
            "curve10k",
            ("adjoint",),
            {
                "tiny": Horizon(4, (0,), batch=2, log_every=1),
                "long": Horizon(10000, (0,), log_every=10),
                "paper": Horizon(10000, (0,), log_every=10),
            },
        ),
    ),
    checkpoints=(30, 40, 100, 1000, 1500, 10000),
    figures=("curves", "wavepacket_fig1"),
    paper={"L-BFGS-B diverged": "0.12%", "network beats L-BFGS-B from step": "30-40"},
)

POISSON = Experiment(
    name="poisson",
    problem="poisson",
    section="3.2, B.3",
    comparisons=(
        Comparison(
            "adam-sgd-pg",
            ("adjoint", "sgd-momentum", "inverse-physics"),
            _horizons(
                4,
                Horizon(1000, (0, 1, 2), batch=32, log_every=5),
                Horizon(5000, (0,), batch=32, log_every=5),
                Horizon(5000, (0,), batch=128, log_every=5),
            ),
        ),
    ),
    checkpoints=(60, 200, 1000, 5000),
    table=SolverTable("inverse-physics", {"gd": 1000, "scipy-lbfgsb": 1000, "inverse-physics": 10}),
    figures=("curves", "field_examples"),
    paper={"PG / Adam at 60": "3x", "PG / Adam at 5000": "10x", "Adam stalls at": "~200"},
    tiny_spec={"ny": 16, "nx": 16, "bands": (1, 2)},
)

HEAT = Experiment(
    name="heat",
    problem="heat",
    section="3.3, B.4",
    comparisons=(
        Comparison(
            "adam-pg",
            ("adjoint", "inverse-physics"),
            _horizons(
                4,
                Horizon(1000, (0, 1, 2), batch=32, log_every=5),
                Horizon(10000, (0,), batch=32, log_every=10),
                Horizon(10000, (0,), batch=128, log_every=10),
            ),
        ),
        Comparison(
            "lbfgs-pg",
            ("lbfgs",),
            {
                "tiny": Horizon(4, (0,), batch=2, log_every=1),
                "long": Horizon(1000, (0,), batch=32, log_every=5),
                "paper": Horizon(1000, (0,), batch=128, log_every=5),
            },
            reaches="adam-pg",
        ),
    ),
    checkpoints=(100, 1000, 10000),
    table=SolverTable(
        "inverse-physics", {"gd": 1000, "scipy-lbfgsb": 1000, "inverse-physics": 100}
    ),
    figures=("curves", "field_examples"),
    paper={
        "PG better than Adam at 100": "34%",
        "PG better than Adam at 10000": "130%",
        "steps to Adam's 10k error: inverse-physics PG": 138,
        "steps to Adam's 10k error: L-BFGS PG": 628,
        "L-BFGS PG cost per step / adjoint": "17x",
    },
    tiny_spec={"ny": 16, "nx": 16, "max_half_size": 3.0, "levels": 2},
)

FLUID = Experiment(
    name="fluid",
    problem="fluid",
    section="3.4, B.5",
    comparisons=(
        Comparison(
            "adam-pg",
            ("adjoint", "inverse-physics"),
            _horizons(
                3,
                Horizon(300, (0, 1, 2), batch=16),
                Horizon(2000, (0,), batch=16),
                Horizon(20000, (0,), batch=64),
            ),
        ),
    ),
    checkpoints=(200, 300),
    table=SolverTable("inverse-physics", {"inverse-physics": 30, "gd": 100}),
    figures=("curves", "fluid_sequences"),
    paper={
        "PG / Adam at 200": "2.3x",
        "PG / Adam at 20000": "5x",
        "PG steps to Adam's 20k error": 55,
        "Table 1: network / solver / GD": "0.11 ms (GPU) / 2.2 s (7 its) / > 4 h (> 20k its)",
    },
    tiny_spec={
        "resolution": 16,
        "marker_center_min": 12.0,
        "marker_center_max": 20.0,
        "marker_half_box": 8.0,
        "marker_smoothness": 3.0,
        "vortex_width": 6.0,
        "vortex_strength_max": 1.0,
        "inverse_step_size": 1e-2,
        "loss_wavelength": 20.0,
        # Two steps, not B.5's eight: the steps are unrolled in the graph, and tracing
        # eight of them (forward, adjoint and the inverse simulator's two passes) cost
        # the suite minutes; two still run every part of a step.
        "steps": 2,
    },
)

EXPERIMENTS = {e.name: e for e in (SIN, WAVEPACKET, POISSON, HEAT, FLUID)}


def get_experiment(name: str) -> Experiment:
    """The experiment called `name`.

    Raises:
        ValueError: no such experiment, naming those there are.
    """
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Unknown experiment {name!r}. Expected one of: {', '.join(EXPERIMENTS)} or all"
        )
    return EXPERIMENTS[name]
