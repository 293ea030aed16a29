"""`pg-keras reproduce`: one command per paper result, writing the report its figures cite.

* `experiments`: the paper's sections as data (comparisons, horizons, checkpoints,
  Table 1's solvers, figures, the paper's numbers);
* `run`: `reproduce`, which runs one experiment at one horizon and writes
  `docs/reports/paper_<experiment>_<horizon>.json`;
* `paper_points`: a compare report read at the paper's checkpoints;
* `solver_table`: paper Table 1, time per event for the network and the solvers;
* `progress`: one line per training run with the time left;
* `figures`: the experiment's figures, from the plotting code that exists.
"""

from pg_keras.reproduce.experiments import EXPERIMENTS, HORIZONS, Experiment, get_experiment
from pg_keras.reproduce.run import plan, reproduce

__all__ = ["EXPERIMENTS", "HORIZONS", "Experiment", "get_experiment", "plan", "reproduce"]
