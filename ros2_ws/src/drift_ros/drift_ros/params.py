"""Typed, documented, validated ROS 2 parameters.

Each node lists its parameters as :class:`Param` specs (name, typed default, unit, meaning,
check). :func:`declare` declares them with a descriptor that carries the unit, reads their
values (from ``-p`` overrides or ``--params-file`` YAML), validates every one and raises a
:class:`drift.errors.ConfigError` naming each bad parameter. :func:`validator` returns an
``add_on_set_parameters_callback`` that rejects bad run-time changes with the same message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drift_ros import ensure_ros_env

ensure_ros_env()

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult  # noqa: E402
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException  # noqa: E402

from drift.errors import ConfigError  # noqa: E402


@dataclass(frozen=True)
class Param:
    """One parameter: ``name``, typed ``default`` (its type is the parameter's type), ``unit``
    (``"-"`` when dimensionless), ``description``, an optional ``check(value) -> error or None``
    and ``read_only`` (fixed after start)."""

    name: str
    default: object
    unit: str
    description: str
    check: Callable[[object], str | None] | None = None
    read_only: bool = False
    choices: Sequence[str] | None = None

    def coerce(self, value):
        """Value of the declared type (an integer is accepted for a float parameter)."""
        if isinstance(self.default, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def validate(self, value) -> str | None:
        want = type(self.default)
        value = self.coerce(value)
        if type(value) is not want:
            return f"wrong type {type(value).__name__}, expected {want.__name__} like {self.default!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be finite"
        return self.check(value) if self.check else None


def positive(v) -> str | None:
    """``Param.check``: ``None`` when ``v > 0``, else the rejection text."""
    return None if v > 0 else "must be > 0"


def non_negative(v) -> str | None:
    """``Param.check``: ``None`` when ``v >= 0``, else the rejection text."""
    return None if v >= 0 else "must be >= 0"


def _message(node_name: str, p: Param, value, err: str) -> str:
    return (
        f"{node_name}: parameter {p.name} = {value!r} rejected: {err} ({p.description}, unit {p.unit}); "
        f"fix it on the command line (-p {p.name}:=...) or in the --params-file YAML"
    )


def declare(node, specs: Sequence[Param]) -> dict[str, object]:
    """Declare ``specs`` on ``node``, validate the values, return ``{name: value}``.

    Raises:
        ConfigError: one line per rejected parameter.
    """
    values, errors = {}, []
    for p in specs:
        # dynamic typing so that "-p rate_hz:=50" (an integer) is accepted for a float; types are
        # checked by Param.validate, here and at run time
        desc = ParameterDescriptor(
            description=f"{p.description} [{p.unit}]", read_only=p.read_only, dynamic_typing=True
        )
        try:
            value = node.declare_parameter(p.name, p.default, desc).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as e:
            errors.append(
                _message(
                    node.get_name(),
                    p,
                    "?",
                    f"wrong type, expected {type(p.default).__name__} like {p.default!r} ({e})",
                )
            )
            continue
        err = p.validate(value)
        if err:
            errors.append(_message(node.get_name(), p, value, err))
        values[p.name] = p.coerce(value)
    if errors:
        raise ConfigError("\n".join(errors))
    return values


def validator(node_name: str, specs: Sequence[Param]):
    """``on_set_parameters`` callback rejecting invalid values (returns ``SetParametersResult``)."""
    by_name = {p.name: p for p in specs}

    def callback(params) -> SetParametersResult:
        for prm in params:
            p = by_name.get(prm.name)
            if p is None:
                continue
            err = p.validate(prm.value)
            if err:
                return SetParametersResult(successful=False, reason=_message(node_name, p, prm.value, err))
        return SetParametersResult(successful=True)

    return callback
