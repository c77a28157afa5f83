"""drift: physics-informed vehicle control.

Subpackages: :mod:`drift.vehicle` (single-track dynamics for numpy, torch and CasADi),
:mod:`drift.logs` (driving logs), :mod:`drift.racing` (tracks and racing simulator).
"""

__version__ = "0.1.0"
