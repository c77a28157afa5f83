"""Lateral tyre models: baselines (linear, Fiala, Pacejka) and the learned models.

All models share :class:`TireModel`; :class:`AxleTires` holds a front and a rear model.
"""

from tire_models.base import REGISTRY, AxleTires, TireModel, friction_circle_scale, register
from tire_models.exptanh import ExpTanh
from tire_models.fiala import Fiala
from tire_models.linear import Linear
from tire_models.neural_ode import NeuralODE
from tire_models.pacejka import Pacejka

__all__ = [
    "REGISTRY",
    "AxleTires",
    "TireModel",
    "friction_circle_scale",
    "register",
    "ExpTanh",
    "Fiala",
    "Linear",
    "NeuralODE",
    "Pacejka",
]
