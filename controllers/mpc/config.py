"""Typed, frozen configuration of the drift NMPC (YAML keys carry units: ``configs/mpc/*.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from drift.config import config_dir
from drift.errors import ConfigError

SOLVERS = ("rti", "sqp", "ipopt", "fatrop")
QP_SOLVERS = ("hpipm", "qrqp", "osqp", "qpoases")


@dataclass(frozen=True)
class MPCConfig:
    """Drift NMPC settings.

    Horizon and integration:
        N: shooting intervals. dt_s: interval (s); the horizon is ``N dt_s``.
        rk4_substeps: RK4 steps per interval in the prediction model.
    Solver:
        solver: ``rti`` (real-time iteration: one Gauss-Newton SQP step per call, QP by ``qp_solver``),
            ``sqp`` (CasADi ``sqpmethod`` to convergence, Gauss-Newton Hessian), ``ipopt`` or ``fatrop``
            (interior point, exact Hessian).
        qp_solver: QP solver of ``rti`` and ``sqp``: ``hpipm``, ``qrqp``, ``osqp`` or ``qpoases``.
        max_iter: iteration cap of the iterative solvers. init_iterations: RTI steps on the first call.
        time_budget_ms: a solve longer than this is rejected (falls back), ms. An RTI cold start
            (``init_iterations`` QPs when no plan exists yet) is exempt.
        jit: compile the per-step QP data (linearisation, Gauss-Newton Hessian) with the C compiler,
            cached (:func:`controllers.codegen.compile_function`): ``"auto"`` where a compiler exists,
            else interpreted with one warning; ``True`` requires it (DriftError without one);
            ``False`` always interpreted.
    Cost weights (each residual is divided by the given tolerance, i.e. weight = 1/tol^2):
        tol_beta_rad, tol_r_radps, tol_vx_mps, tol_e_m, tol_course_rad (course error
        ``dpsi + beta + atan(e / lookahead_m)``: velocity direction against the line-of-sight course
        back to the path; lookahead_m in m, None = plain ``dpsi + beta``), tol_ddelta_rad / tol_dFx_N
        (change per interval), tol_delta_ref_rad / tol_Fx_ref_N (input minus equilibrium input),
        terminal_factor (terminal state residuals multiplied by this).
        beta_limit_rad / tol_beta_limit_rad: a soft limit on ``|beta|`` (a spin guard): the residual
        ``max(|beta| - limit, 0) / tol`` (None: off).
        traction_limit / tol_traction: a soft limit on the drive force's share of the rear tyre's
            friction, residual ``max(Fx / (mu_r Fzr) - limit, 0) / tol`` (smoothed over 0.02; ``mu_r``
            the rear model's peak friction, ``Fzr`` its load with load transfer; None: off). The
            single-track model applies any drive force, a tyre at most ``mu_r Fzr`` (the friction
            circle of Djeumou et al. 2023, Sec. III).
        yaw_ref: ``"equilibrium"`` tracks the reference's ``r``; ``"kinematic"`` tracks ``kappa V``, the
        yaw rate of a steady drift on the path at the current speed (with a loose ``tol_vx_mps`` the
        controller then finds the speed the real car can hold).
    Bounds:
        delta_max_rad: steering bound (None: vehicle ``delta_max``). delta_rate_max_radps:
        steering rate (None: vehicle ``delta_rate_max``). Fx_min_N / Fx_max_N: force bounds (None for
        ``Fx_max_N``: vehicle ``Fx_drive_max``, further limited by ``P_max / vx``). Fx_rate_max_Nps.
    Offset-free tracking:
        disturbance_gain: each step adds ``gain * (v_measured - v_predicted) / dt_s`` to an acceleration
        offset on ``[vx_dot, vy_dot, r_dot]`` of the prediction model (0 disables); disturbance_max:
        its bound (m/s^2, m/s^2, rad/s^2). This removes the steady offset a model mismatch leaves.
    Fallback:
        max_shifted_steps: how many consecutive steps may use the shifted previous plan before the
        stabilising controller takes over.
    """

    N: int = 60
    dt_s: float = 0.02
    rk4_substeps: int = 1
    solver: str = "rti"
    qp_solver: str = "hpipm"
    max_iter: int = 50
    init_iterations: int = 20
    time_budget_ms: float = 15.0
    jit: bool | str = "auto"
    tol_beta_rad: float = 0.1
    tol_r_radps: float = 0.3
    tol_vx_mps: float = 1.0
    tol_e_m: float = 0.5
    tol_course_rad: float = 0.1
    lookahead_m: float | None = None
    yaw_ref: str = "equilibrium"
    beta_limit_rad: float | None = 0.7
    tol_beta_limit_rad: float = 0.02
    traction_limit: float | None = 0.95
    tol_traction: float = 0.02
    tol_ddelta_rad: float = 0.01
    tol_dFx_N: float = 300.0
    tol_delta_ref_rad: float = 0.5
    tol_Fx_ref_N: float = 5000.0
    terminal_factor: float = 10.0
    delta_max_rad: float | None = None
    delta_rate_max_radps: float | None = None
    Fx_min_N: float = -3000.0
    Fx_max_N: float | None = None
    Fx_rate_max_Nps: float = 40000.0
    max_shifted_steps: int = 10
    disturbance_gain: float = 0.01
    disturbance_max: tuple = (2.0, 3.0, 3.0)

    def __post_init__(self):
        if self.solver not in SOLVERS:
            raise ConfigError(f"mpc config: solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.qp_solver not in QP_SOLVERS:
            raise ConfigError(f"mpc config: qp_solver must be one of {QP_SOLVERS}, got {self.qp_solver!r}")
        if self.yaw_ref not in ("equilibrium", "kinematic"):
            raise ConfigError(
                f"mpc config: yaw_ref must be 'equilibrium' or 'kinematic', got {self.yaw_ref!r}"
            )
        if self.jit not in (True, False, "auto"):
            raise ConfigError(f"mpc config: jit must be true, false or 'auto', got {self.jit!r}")
        if self.N < 2 or self.dt_s <= 0:
            raise ConfigError(f"mpc config: need N >= 2 and dt_s > 0, got N={self.N}, dt_s={self.dt_s}")
        if self.traction_limit is not None and not self.traction_limit > 0:
            raise ConfigError(f"mpc config: traction_limit must be > 0 or null, got {self.traction_limit!r}")
        for f in dataclasses.fields(self):
            if f.name.startswith("tol_") and not getattr(self, f.name) > 0:
                raise ConfigError(
                    f"mpc config: {f.name} must be > 0 (a tolerance), got {getattr(self, f.name)!r}"
                )

    def replace(self, **kw) -> MPCConfig:
        return dataclasses.replace(self, **kw)

    @staticmethod
    def from_dict(d: dict, source: str = "<dict>") -> MPCConfig:
        """Build from YAML keys (the field names). Raises ConfigError naming unknown keys."""
        known = {f.name: f for f in dataclasses.fields(MPCConfig)}
        bad = [k for k in d if k not in known]
        if bad:
            raise ConfigError(f"{source}: unknown mpc keys {bad}; known: {sorted(known)}")
        return MPCConfig(**d)


def load_mpc_config(name_or_path: str | Path = "default") -> MPCConfig:
    """Load ``configs/mpc/<name>.yaml`` (its ``controller`` section) or a YAML path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = config_dir() / "mpc" / f"{name_or_path}.yaml"
    if not p.exists():
        raise ConfigError(f"mpc config {str(name_or_path)!r} not found (looked for {p})")
    d = yaml.safe_load(p.read_text()) or {}
    return MPCConfig.from_dict(d.get("controller", d), source=str(p))
