"""The periodic MAC grid of the fluid (Harlow & Welch 1965; paper B.5): where values live.

Shapes (batch on axis 0, then y, then x, like PhiFlow's `(batch, y, x)`):

* cell centres sit at `((i + ½)·dx, (j + ½)·dx)`, `i` the x index (axis 2),
  `j` the y index (axis 1); scalars (marker `m`, pressure `p`) are `[batch, ny, nx]`;
* a staggered velocity is `[batch, ny, nx, 2]`: channel 0 is the x-component on
  the left face of cell (j, i), at `(i·dx, (j + ½)·dx)`, channel 1 the
  y-component on the bottom face, at `((i + ½)·dx, j·dx)`. With periodic
  boundaries there are exactly `ny·nx` faces of each kind;
* a centred velocity (the paper's `x ≡ v0`) is `[batch, ny, nx, 2]`, (vx, vy) at
  cell centres.

The difference operators are the MAC grid's: `divergence` maps faces to
centres, `gradient` centres to faces, and `divergence(gradient(p))` is the
periodic 5-point `laplacian`. On centred velocities, `centered_divergence`
(central differences) equals `divergence(centered_to_staggered(v))`, and
`centered_gradient` is minus its adjoint.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "cell_centers",
    "centered_divergence",
    "centered_gradient",
    "centered_to_staggered",
    "check_grid",
    "divergence",
    "gradient",
    "laplacian",
    "staggered_to_centered",
    "velocity_at_x_faces",
    "velocity_at_y_faces",
]


def check_grid(field: tf.Tensor, name: str, rank: int) -> None:
    """Raises unless `field` is a scalar (`rank` 3) or vector (`rank` 4) field on the grid."""
    if field.shape.rank != rank:
        raise ValueError(
            f"Expected `{name}` of rank {rank} ([batch, ny, nx{', 2' if rank == 4 else ''}]). "
            f"Received: shape={field.shape}"
        )


def cell_centers(n: int, dx: float, dtype: tf.DType) -> tf.Tensor:
    """Coordinates `(i + ½)·dx` of the `n` cell centres along one axis, `[n]`."""
    return (tf.range(n, dtype=dtype) + 0.5) * dx


def laplacian(p: tf.Tensor, dx: float) -> tf.Tensor:
    """Periodic 5-point Laplacian `∇²p`, `[batch, ny, nx]` -> `[batch, ny, nx]`."""
    neighbours = (
        tf.roll(p, 1, 1) + tf.roll(p, -1, 1) + tf.roll(p, 1, 2) + tf.roll(p, -1, 2) - 4.0 * p
    )
    return neighbours / (dx * dx)


def divergence(velocity: tf.Tensor, dx: float) -> tf.Tensor:
    """`∇·v` at cell centres of a staggered velocity `[batch, ny, nx, 2]` -> `[batch, ny, nx]`.

    `(u[j, i+1] − u[j, i] + w[j+1, i] − w[j, i]) / dx`, periodic.
    """
    u, w = velocity[..., 0], velocity[..., 1]
    return (tf.roll(u, -1, 2) - u + tf.roll(w, -1, 1) - w) / dx


def gradient(p: tf.Tensor, dx: float) -> tf.Tensor:
    """`∇p` on the faces, `[batch, ny, nx]` -> staggered `[batch, ny, nx, 2]`.

    x-face (j, i) lies between cells i−1 and i: `(p[j, i] − p[j, i−1]) / dx`.
    """
    return tf.stack([(p - tf.roll(p, 1, 2)) / dx, (p - tf.roll(p, 1, 1)) / dx], axis=-1)


def centered_divergence(velocity: tf.Tensor, dx: float) -> tf.Tensor:
    """Central-difference `∇·v` of a centred velocity, `[batch, ny, nx, 2]` -> `[batch, ny, nx]`.

    `(u[j, i+1] − u[j, i−1] + w[j+1, i] − w[j−1, i]) / (2dx)`, which is the
    MAC divergence of the face averages (`centered_to_staggered`).
    """
    u, w = velocity[..., 0], velocity[..., 1]
    return (tf.roll(u, -1, 2) - tf.roll(u, 1, 2) + tf.roll(w, -1, 1) - tf.roll(w, 1, 1)) / (2 * dx)


def centered_gradient(p: tf.Tensor, dx: float) -> tf.Tensor:
    """`∇p` at cell centres by central differences, `[batch, ny, nx]` -> `[batch, ny, nx, 2]`."""
    return tf.stack(
        [
            (tf.roll(p, -1, 2) - tf.roll(p, 1, 2)) / (2 * dx),
            (tf.roll(p, -1, 1) - tf.roll(p, 1, 1)) / (2 * dx),
        ],
        axis=-1,
    )


def centered_to_staggered(velocity: tf.Tensor) -> tf.Tensor:
    """Centred `[batch, ny, nx, 2]` -> staggered: each face averages its two cells."""
    check_grid(velocity, "velocity", 4)
    u = 0.5 * (velocity[..., 0] + tf.roll(velocity[..., 0], 1, 2))
    w = 0.5 * (velocity[..., 1] + tf.roll(velocity[..., 1], 1, 1))
    return tf.stack([u, w], axis=-1)


def staggered_to_centered(velocity: tf.Tensor) -> tf.Tensor:
    """Staggered `[batch, ny, nx, 2]` -> centred: each cell averages its two faces."""
    u = 0.5 * (velocity[..., 0] + tf.roll(velocity[..., 0], -1, 2))
    w = 0.5 * (velocity[..., 1] + tf.roll(velocity[..., 1], -1, 1))
    return tf.stack([u, w], axis=-1)


def velocity_at_x_faces(velocity: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(u, w) at the x-faces of a staggered velocity, each `[batch, ny, nx]`.

    u is stored there; w averages the four y-faces around the x-face.
    """
    w = velocity[..., 1]
    w_cells = w + tf.roll(w, -1, 1)  # the two y-faces of cell (j, i), summed
    return velocity[..., 0], 0.25 * (w_cells + tf.roll(w_cells, 1, 2))


def velocity_at_y_faces(velocity: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(u, w) at the y-faces: w is stored there; u averages the four x-faces around it."""
    u = velocity[..., 0]
    u_cells = u + tf.roll(u, -1, 2)
    return 0.25 * (u_cells + tf.roll(u_cells, 1, 1)), velocity[..., 1]
