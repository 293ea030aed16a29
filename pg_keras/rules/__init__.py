"""Gradient rules: what a physics layer passes back in place of dL/dx."""

from pg_keras.rules.adjoint import Adjoint
from pg_keras.rules.base import BackwardContext, GradientRule, PhysicalGradientRule
from pg_keras.rules.gradient_descent import GradientDescent
from pg_keras.rules.inverse_gradient import InverseGradient
from pg_keras.rules.inverse_physics import InversePhysics
from pg_keras.rules.lbfgs import LBFGS
from pg_keras.rules.newton import Newton
from pg_keras.rules.supervised import Supervised

__all__ = [
    "LBFGS",
    "Adjoint",
    "BackwardContext",
    "GradientDescent",
    "GradientRule",
    "InverseGradient",
    "InversePhysics",
    "Newton",
    "PhysicalGradientRule",
    "Supervised",
]
