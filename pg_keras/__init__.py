"""pg_keras: train neural inverse solvers with physical gradients, in TensorFlow/Keras."""

from pg_keras.config import BaselineConfig, CompareConfig, TrainingConfig
from pg_keras.physical_gradient import (
    physical_gradient,
    physics_backward,
    physics_forward,
    proxy_loss,
)
from pg_keras.physics_layer import PhysicsLayer
from pg_keras.problems import PROBLEMS, Problem, Scheme, get_problem
from pg_keras.rules import (
    LBFGS,
    Adjoint,
    BackwardContext,
    GradientDescent,
    GradientRule,
    InverseGradient,
    InversePhysics,
    Newton,
    PhysicalGradientRule,
    Supervised,
)
from pg_keras.training.compare import compare
from pg_keras.training.model import PhysicsModel
from pg_keras.training.run import train

__all__ = [
    "LBFGS",
    "PROBLEMS",
    "Adjoint",
    "BackwardContext",
    "BaselineConfig",
    "CompareConfig",
    "GradientDescent",
    "GradientRule",
    "InverseGradient",
    "InversePhysics",
    "Newton",
    "PhysicalGradientRule",
    "PhysicsLayer",
    "PhysicsModel",
    "Problem",
    "Scheme",
    "Supervised",
    "TrainingConfig",
    "compare",
    "get_problem",
    "physical_gradient",
    "physics_backward",
    "physics_forward",
    "proxy_loss",
    "train",
]
