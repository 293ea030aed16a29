"""Per-event iterative solving: classical solvers run on each event alone, as baselines.

A network amortises the inverse problem over all events; an iterative solver
attacks each event `y*` alone, from the problem's `initial_guess`.

* `solvers`: the `Solver` type, `SolverOutput`, and the generic solvers that work
  for any problem through `simulate` and autodiff (`gd`, `tfp-lbfgs`,
  `scipy-lbfgsb`, `gauss-newton`, `levenberg-marquardt`);
* `iteration`: `iterate_inverse`, the one loop `x ← P⁻¹(y* | x)` that the
  `inverse-physics` solvers and the exported `refine` signature share;
* `solve`: `solve`, `solve_fresh` and `SolveResult`, the classified outcome and
  the JSON report of `pg-keras solve`.

Which solvers a problem has is `Problem.solvers()` (see `pg_keras.problems.base`):
none without an `initial_guess`; the generic ones with it; `inverse-physics` too
when the problem has an `inverse`. Solvers run in float64 whatever the problem's
training dtype: they are the reference a network is measured against.

This package does not import `pg_keras.problems` (problems import it).
"""

from pg_keras.solving.iteration import (
    InverseIteration,
    inverse_iteration_solver,
    inverse_update,
    iterate_inverse,
)
from pg_keras.solving.solve import (
    RENAMED_SOLVERS,
    STATUSES,
    SolveResult,
    find_solver,
    solve,
    solve_fresh,
)
from pg_keras.solving.solvers import (
    Solver,
    SolverOutput,
    generic_solvers,
    gradient_descent,
    scipy_lbfgsb,
    tfp_lbfgs,
)

__all__ = [
    "RENAMED_SOLVERS",
    "STATUSES",
    "InverseIteration",
    "SolveResult",
    "Solver",
    "SolverOutput",
    "find_solver",
    "generic_solvers",
    "gradient_descent",
    "inverse_iteration_solver",
    "inverse_update",
    "iterate_inverse",
    "scipy_lbfgsb",
    "solve",
    "solve_fresh",
    "tfp_lbfgs",
]
