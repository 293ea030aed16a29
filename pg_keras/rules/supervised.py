"""Supervised training: a training mode, not a gradient rule."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Supervised:
    """Train `½‖x − x_label‖²` without the simulator in the loop (the paper's Eq. 3).

    The labels come from the problem (`Problem.supervised_labels`): the ground
    truth `x*` where it is known and unique, or a solver's answer from a fixed
    initial guess where the problem is multi-modal.
    """

    is_physical = False

    def get_config(self) -> dict:
        return {"rule": "Supervised"}
