"""2D incompressible Navier–Stokes with a passive marker on a periodic MAC grid (paper 3.4, B.5).

    ∂v/∂t = −(v·∇)v − ∇p,   ∇·v = 0,   ∂m/∂t = −v·∇m

Pure TF, batch on axis 0, one concept per module:

* `grid`: where values live on the MAC grid, its difference operators;
* `advection`: MacCormack advection with clamping (Selle et al. 2008);
* `stencils`: the two periodic Laplacians the projections solve with;
* `pressure`: pressure solvers (exact FFT, CG), each reporting how it ended;
* `projection`: the Helmholtz projection `v − ∇p` (staggered, and of the
  centred `v0`), the solver a parameter;
* `simulation`: one step of B.5 and the simulation `P`;
* `prior`: B.5's velocity prior, uniform flow plus one Gaussian vortex;
* `inverse`: B.5's inverse simulator, the PG's `P⁻¹`;
* `loss`: B.5's frequency-weighted objective.

Every name below is importable from `pg_keras.physics.fluid`.
"""

from pg_keras.physics.fluid.advection import (
    advect_marker,
    advect_velocity,
    maccormack,
    sample_periodic,
    semi_lagrangian,
)
from pg_keras.physics.fluid.grid import (
    cell_centers,
    centered_divergence,
    centered_gradient,
    centered_to_staggered,
    divergence,
    gradient,
    laplacian,
    staggered_to_centered,
)
from pg_keras.physics.fluid.inverse import InverseUpdate, inverse_vortex_update
from pg_keras.physics.fluid.loss import frequency_weighted_loss, loss_weights
from pg_keras.physics.fluid.pressure import (
    PoissonResult,
    PoissonSolver,
    check_converged,
    conjugate_gradient_poisson,
    merge_results,
    spectral_poisson,
)
from pg_keras.physics.fluid.prior import (
    center_of_mass,
    project_strength,
    uniform_velocity,
    vortex_profile,
)
from pg_keras.physics.fluid.projection import make_incompressible, make_incompressible_centered
from pg_keras.physics.fluid.simulation import (
    FluidState,
    kinetic_energy,
    pressure_solves,
    renormalize_energy,
    simulate,
    step,
)
from pg_keras.physics.fluid.stencils import STENCILS, Stencil

__all__ = [
    "FluidState",
    "InverseUpdate",
    "PoissonResult",
    "PoissonSolver",
    "STENCILS",
    "Stencil",
    "advect_marker",
    "advect_velocity",
    "cell_centers",
    "center_of_mass",
    "centered_divergence",
    "centered_gradient",
    "centered_to_staggered",
    "check_converged",
    "conjugate_gradient_poisson",
    "divergence",
    "frequency_weighted_loss",
    "gradient",
    "inverse_vortex_update",
    "kinetic_energy",
    "laplacian",
    "loss_weights",
    "maccormack",
    "make_incompressible",
    "make_incompressible_centered",
    "merge_results",
    "pressure_solves",
    "project_strength",
    "renormalize_energy",
    "sample_periodic",
    "semi_lagrangian",
    "simulate",
    "spectral_poisson",
    "staggered_to_centered",
    "step",
    "uniform_velocity",
    "vortex_profile",
]
