"""Drift NMPC: multiple shooting on the single-track model with path errors, real-time iteration.

Prediction model (continuous, RK4 per shooting interval), state ``x = [vx, vy, r, e, dpsi,
delta_prev, Fx_prev]`` and input ``u = [delta, Fx]``:

* ``[vx, vy, r]``: :func:`drift.vehicle.body_derivatives` with the controller's tyre model (the ONE
  vehicle model, evaluated on CasADi symbols);
* path errors in the Frenet frame of a reference path of curvature ``kappa`` (Rajamani Sec. 3.2)::

      s_dot    = (vx cos(dpsi) - vy sin(dpsi)) / (1 - kappa e)
      e_dot    =  vx sin(dpsi) + vy cos(dpsi)
      dpsi_dot =  r - kappa s_dot

  with lateral error ``e`` (m, + left) and heading error ``dpsi = psi - heading_path`` (rad); the
  progress ``s`` is no state (nothing depends on it): the references along the plan are looked up at
  ``s_dot`` integrated over the previous plan, so the QP has 7 states per stage, not 8;
* ``delta_prev, Fx_prev``: the previous input (discrete shift ``x+ = u``), so the rate limits
  ``|u_k - u_{k-1}| <= rate dt`` are stage constraints (OCP structure kept for hpipm / fatrop).

Cost: a least-squares sum of residuals each divided by a tolerance (``MPCConfig.tol_*``): sideslip
``beta = atan2(vy, vx)``, yaw rate, speed, lateral error, course error ``dpsi + beta`` (the velocity,
not the nose, should follow the path; optionally ``+ atan(e / L)``, line-of-sight guidance, Fossen
2011 Sec. 10.3, off by default: it measured worse), input rates and input minus the equilibrium
input; terminal state residuals weighted by ``terminal_factor``. References come from drift
equilibria (:mod:`controllers.mpc.equilibrium`) through a :class:`Reference`.

Scaling: every decision variable and constraint is divided by a typical magnitude
(``vx``: 10 m/s, ``delta``: ``delta_max``, ``Fx``: the force bound, ...), so the NLP is of order one.

Solvers (``MPCConfig.solver``): ``rti`` linearises once per control period at the shifted
previous solution and solves one QP with a Gauss-Newton Hessian ``J^T J`` (Diehl et al. 2005,
"Real-time iteration scheme for nonlinear optimization in optimal feedback control"); ``sqp``,
``ipopt`` and ``fatrop`` solve the same NLP to convergence. Each is warm-started from the shifted
previous solution.

Safety (:meth:`DriftMPC.step`): a solve that raises, reports failure, returns non-finite values or
exceeds ``time_budget_ms`` is rejected; the command then comes from the shifted previous plan (up to
``max_shifted_steps``), then from :func:`controllers.mpc.fallback.stabilising_command`. Every
command is finite and saturated to the input bounds and rate limits.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import casadi as ca
import numpy as np

from controllers.codegen import InPlace, compile_function
from controllers.mpc.config import MPCConfig
from controllers.mpc.equilibrium import Equilibrium
from controllers.mpc.fallback import saturate, stabilising_command
from controllers.mpc.paths import Path
from drift.errors import DriftError
from drift.vehicle import body_derivatives
from drift.vehicle.dynamics import axle_loads
from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires

NX = 7  #: controller state: vx, vy, r, e, dpsi, delta_prev, Fx_prev
NU = 2  #: controller input: delta (rad), Fx (N)
NREF = 7  #: reference columns: kappa, beta, r, vx, delta, Fx, w_path
REF_NAMES = ("kappa", "beta", "r", "vx", "delta", "Fx", "w_path")


class Reference(Protocol):
    """Reference along the horizon: ``ref(t (K,), s (K,)) -> (K, 7)`` with columns
    ``kappa`` (1/m), ``beta`` (rad), ``r`` (rad/s), ``vx`` (m/s), ``delta`` (rad), ``Fx`` (N) and
    ``w_path`` (dimensionless factor on the path-error weights, 1 = as configured), at absolute
    times ``t`` (s) and absolute path progress ``s`` (m)."""

    def __call__(self, t: np.ndarray, s: np.ndarray) -> np.ndarray: ...


def mirror(eq: Equilibrium) -> np.ndarray:
    """The equilibrium of the mirrored (right-hand) turn as ``[beta, r, vx, delta, Fx]``."""
    return np.array([-eq.beta, -eq.r, eq.vx, -eq.delta, eq.Fxr])


@dataclass(frozen=True)
class EquilibriumReference:
    """Hold one drift equilibrium along a path: left-turn values where ``kappa > 0``, mirrored where
    ``kappa < 0``. Without a path the curvature is ``eq.r / eq.V`` (the equilibrium's own circle)."""

    eq: Equilibrium
    path: Path | None = None

    def __call__(self, t, s):
        s = np.asarray(s, float)
        left = np.array([self.eq.beta, self.eq.r, self.eq.vx, self.eq.delta, self.eq.Fxr])
        if self.path is None:
            kappa = np.full(s.shape, self.eq.r / self.eq.V)
        else:
            kappa = self.path.kappa_at(s)
        sign_eq = 1.0 if self.eq.r >= 0 else -1.0
        same = (np.sign(kappa) == sign_eq) | (kappa == 0)
        vals = np.where(same[:, None], left[None, :], mirror(self.eq)[None, :])
        return np.column_stack([kappa, vals, np.ones_like(kappa)])


@dataclass
class Diagnostics:
    """What one :meth:`DriftMPC.step` did.

    Attributes:
        solve_ms: wall time of the solve (ms). iterations: SQP / QP / interior-point iterations.
        status: solver status text. success: the solve was accepted.
        source: where the command came from: ``"mpc"``, ``"shifted"`` (previous plan) or ``"stabilizer"``.
        predicted: ``(N+1, 6)`` predicted ``[vx, vy, r, e, dpsi, s]`` of the plan the command came from
            (``s`` relative to now); NaN-free. predicted_u: ``(N, 2)`` planned ``[delta, Fx]``.
        errors: ``[e, dpsi, s]`` path errors at the call (m, rad, m).
    """

    solve_ms: float = 0.0
    iterations: int = 0
    status: str = ""
    success: bool = False
    source: str = "mpc"
    predicted: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))
    predicted_u: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    errors: np.ndarray = field(default_factory=lambda: np.zeros(3))


class DriftMPC:
    """Drift NMPC (see the module docstring for the formulation).

    Usage (do-mpc style)::

        mpc = DriftMPC(vehicle, tires, MPCConfig(), path=circle_path(15.0), reference=ref)
        mpc.setup()                       # builds and (optionally) compiles; settings frozen
        u, diag = mpc.step(state, t)      # state = [X, Y, psi, vx, vy, r], u = [delta, Fx]

    Args:
        vehicle: vehicle parameters (SI). tires: the controller's tyre model (``casadi = True``).
        config: :class:`MPCConfig`. path: reference path for :meth:`step` (pose input); may be None
            when the caller passes path errors to :meth:`step_frenet`. reference: a :class:`Reference`
            (e.g. :class:`EquilibriumReference`).
        u_init: the command applied before the first step, ``[delta, Fx]`` (rad, N).

    Raises:
        DriftError: a tyre model that CasADi cannot evaluate, or inconsistent arguments.
    """

    def __init__(
        self,
        vehicle: VehicleParams,
        tires: AxleTires,
        config: MPCConfig | None = None,
        *,
        path: Path | None = None,
        reference: Reference | None = None,
        u_init=(0.0, 0.0),
    ):
        for t in (tires.front, tires.rear):
            if not getattr(t, "casadi", False):
                raise DriftError(
                    f"DriftMPC: tyre model {t.name!r} cannot be evaluated in CasADi (casadi = False)"
                )
        if reference is None:
            raise DriftError(
                "DriftMPC: give a reference, e.g. EquilibriumReference(drift_equilibrium(...), path)"
            )
        self.vehicle, self.tires, self.cfg = vehicle, tires, config or MPCConfig()
        self.path, self.reference = path, reference
        c = self.cfg
        self.delta_max = c.delta_max_rad if c.delta_max_rad is not None else vehicle.delta_max
        self.delta_rate = (
            c.delta_rate_max_radps if c.delta_rate_max_radps is not None else vehicle.delta_rate_max
        )
        self.Fx_max = c.Fx_max_N if c.Fx_max_N is not None else vehicle.Fx_drive_max
        self.Fx_min = c.Fx_min_N
        self.rate_per_step = np.array([self.delta_rate * c.dt_s, c.Fx_rate_max_Nps * c.dt_s])
        self._d_max = np.array(c.disturbance_max)
        self.u_prev = np.array(u_init, float)
        self._built = False

    # ------------------------------------------------------------------------------------------
    # construction
    def _scales(self):
        Fs = max(abs(self.Fx_max), abs(self.Fx_min), 1.0)
        xs = np.array([10.0, 5.0, 1.0, 1.0, 0.5, self.delta_max, Fs])
        return xs, np.array([self.delta_max, Fs])

    def setup(self) -> DriftMPC:
        """Build the NLP (and the RTI QP) with CasADi; call once before :meth:`step`."""
        c, p, T = self.cfg, self.vehicle, self.tires
        N = c.N
        xs, us = self._scales()
        self.x_scale, self.u_scale = xs, us
        # continuous dynamics of [vx, vy, r, e, dpsi, s] for input u and curvature kappa
        xv, u, kap = ca.SX.sym("xv", 6), ca.SX.sym("u", 2), ca.SX.sym("kappa")
        vx, vy, r, e, dpsi = xv[0], xv[1], xv[2], xv[3], xv[4]
        dist = ca.SX.sym("d", 3)  # estimated model error, added to [vx_dot, vy_dot, r_dot]
        dv = body_derivatives(xv[0:3], u, p, T) + dist
        sdot = (vx * ca.cos(dpsi) - vy * ca.sin(dpsi)) / (1 - kap * e)
        rhs = ca.vertcat(dv, vx * ca.sin(dpsi) + vy * ca.cos(dpsi), r - kap * sdot, sdot)
        fc = ca.Function("fc", [xv, u, kap, dist], [rhs])
        h = c.dt_s / c.rk4_substeps
        xk = xv
        for _ in range(c.rk4_substeps):
            k1 = fc(xk, u, kap, dist)
            k2 = fc(xk + h / 2 * k1, u, kap, dist)
            k3 = fc(xk + h / 2 * k2, u, kap, dist)
            k4 = fc(xk + h * k3, u, kap, dist)
            xk = xk + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        self._F = ca.Function("F", [xv, u, kap, dist], [xk])  # physical units
        # [vx, vy, r] one interval ahead of z = [vx, vy, r, e, dpsi, delta, Fx, kappa, disturbance (3)]:
        # evaluated in place: per-step conversions would cost more than the evaluation
        z = ca.SX.sym("z", 11)
        self._pred = InPlace(
            ca.Function("predict_v", [z], [self._F(ca.vertcat(z[0:5], 0), z[5:7], z[7], z[8:11])[0:3]])
        )

        # one shooting interval as SX functions (scaled variables): the residual and constraints of
        # stage k depend on (x_k, u_k, x_{k+1}) only, so the NLP and the QP are these functions mapped
        # over the horizon; code generation then compiles one stage instead of N unrolled ones
        nz = NX + NU
        xk, uk, xk1 = ca.SX.sym("x", NX), ca.SX.sym("u", NU), ca.SX.sym("x_next", NX)
        refk, D = ca.SX.sym("ref", NREF), ca.SX.sym("dist", 3)
        tb = 1.0 / np.array([c.tol_beta_rad, c.tol_r_radps, c.tol_vx_mps, c.tol_e_m, c.tol_course_rad])
        tu = 1.0 / np.array([c.tol_ddelta_rad, c.tol_dFx_N, c.tol_delta_ref_rad, c.tol_Fx_ref_N])

        def state_res(x, ref):
            beta = ca.atan2(x[1], x[0])
            wp = ref[6]
            # course error against a line-of-sight course back to the path: (dpsi + beta) + atan(e / L)
            course = x[4] + beta + (ca.atan(x[3] / c.lookahead_m) if c.lookahead_m else 0)
            if c.yaw_ref == "kinematic":  # steady drift on the path: r = kappa V, whatever the speed
                r_ref = ref[0] * ca.sqrt(x[0] * x[0] + x[1] * x[1])
            else:
                r_ref = ref[2]
            res = ca.vertcat(beta - ref[1], x[2] - r_ref, x[0] - ref[3], wp * x[3], wp * course) * tb
            if c.beta_limit_rad is None:
                return res
            # soft limit on |beta| (a spin guard): smooth max(|beta| - limit, 0) / tolerance
            over = ca.sqrt(beta * beta + 1e-6) - c.beta_limit_rad
            return ca.vertcat(res, 0.5 * (over + ca.sqrt(over * over + 1e-6)) / c.tol_beta_limit_rad)

        x, uu = xk * xs, uk * us
        # gap (continuity) constraint first, then the rate constraint (HPIPM's block order); the rate
        # constraint is a stage constraint on x_k = [.., u_{k-1}] and u_k, in units of rate * dt.
        # The state residual of stage 0 is constant (x_0 is fixed): it does not change the solution.
        con = ca.vertcat(
            xk1 - ca.vertcat(self._F(ca.vertcat(x[0:5], 0), uu, refk[0], D)[0:5], uu) / xs,  # fatrop's form
            (uu - x[5:7]) / self.rate_per_step,
        )
        res = ca.vertcat(state_res(x, refk), ca.vertcat(uu - x[5:7], uu - refk[4:6]) * tu)
        if c.traction_limit is not None:
            # the model applies any drive force, a tyre at most mu_r Fzr: plans leaning on more than the
            # rear's friction (up to 1.2 mu_r Fzr in drift entries) meet wheel spin and traction control
            Fzr = axle_loads(x[0], uu[1], p)[1]
            over = uu[1] / (float(T.rear.peak_mu) * Fzr) - c.traction_limit
            res = ca.vertcat(res, 0.5 * (over + ca.sqrt(over * over + 4e-4)) / c.tol_traction)
        res_N = math.sqrt(c.terminal_factor) * state_res(xk * xs, refk)
        stage_args, stage_names = [xk, uk, xk1, refk, D], ["x", "u", "x_next", "ref", "dist"]
        # residuals and constraints of a stage and the terminal residual (scaled variables)
        self._stage = ca.Function("stage", stage_args, [res, con], stage_names, ["res", "con"])
        self._terminal = ca.Function("terminal", [xk, refk], [res_N], ["x", "ref"], ["res"])

        # the horizon, scaled, stage-wise: w = [x0, u0, x1, u1, ..., x_{N-1}, u_{N-1}, x_N]
        w = ca.MX.sym("w", N * nz + NX)
        P, Dm = ca.MX.sym("ref", NREF, N + 1), ca.MX.sym("dist", 3)
        Pall = ca.vertcat(ca.vec(P), Dm)
        Z = ca.reshape(w[: N * nz], nz, N)
        Xk, Uk = Z[:NX, :], Z[NX:, :]
        Xk1 = ca.horzcat(Xk[:, 1:], w[N * nz :])
        stage_in = [Xk, Uk, Xk1, P[:, :N], ca.repmat(Dm, 1, N)]
        self._nw, self._ng = w.shape[0], N * (NX + 2)
        self._eq_flags = ([True] * NX + [False, False]) * N
        self._lbg = np.tile(np.r_[np.zeros(NX), -1.0, -1.0], N)
        self._ubg = np.tile(np.r_[np.zeros(NX), 1.0, 1.0], N)
        # index maps
        self._ix = np.array([k * nz + np.arange(NX) for k in range(N + 1)])  # (N+1, NX)
        self._iu = np.array([k * nz + NX + np.arange(NU) for k in range(N)])  # (N, NU)
        self._lbw0, self._ubw0 = self._static_bounds()
        x0s, u0s, refs = ca.SX.sym("x0", NX), ca.SX.sym("uc", NU), ca.SX.sym("refs", NREF, N + 1)
        # rollout with a constant input (initial guesses), physical units, (NX, N+1)
        xr, cols = x0s, [x0s]
        for k in range(N):
            xr = ca.vertcat(self._F(ca.vertcat(xr[0:5], 0), u0s, refs[0, k], ca.DM.zeros(3))[0:5], u0s)
            cols.append(xr)
        self._rollout = ca.Function("rollout", [x0s, u0s, refs], [ca.horzcat(*cols)])
        if c.solver == "rti":
            # Gauss-Newton blocks per stage: H_k = J_k^T J_k, g_k = J_k^T res_k, constraint Jacobian
            # with respect to (x_k, u_k, x_{k+1})
            z = ca.vertcat(xk, uk)
            J, J_N = ca.jacobian(res, z), ca.jacobian(res_N, xk)
            stage = ca.Function(
                "stage_qp",
                stage_args,
                [ca.mtimes(J.T, J), ca.mtimes(J.T, res), ca.jacobian(con, ca.vertcat(z, xk1)), con],
                stage_names,
                ["H", "g", "A", "con"],
            )
            term = ca.Function("terminal_qp", [xk, refk], [ca.mtimes(J_N.T, J_N), ca.mtimes(J_N.T, res_N)])
            Hs, gs, As, cons = stage.map(N)(*stage_in)
            H_N, g_N = term(w[N * nz :], P[:, N])
            H = ca.diagcat(*ca.horzsplit(Hs, nz), H_N) + 1e-6 * ca.DM.eye(self._nw)  # tiny Levenberg: H > 0
            # A: stage k's rows (gap, rate) over the columns of (x_k, u_k, x_{k+1})
            A = ca.vertcat(
                *(
                    ca.horzcat(ca.MX(NX + 2, k * nz), Ak, ca.MX(NX + 2, self._nw - k * nz - nz - NX))
                    for k, Ak in enumerate(ca.horzsplit(As, nz + NX))
                )
            )
            gv = ca.vec(cons)
            # the bounds of the step dw, built from the few numbers that change (scaled x_0 and the
            # power-limited Fx_max): two numpy-to-CasADi conversions fewer per step, about 20 us each
            xb = ca.MX.sym("xb", NX + 1)
            lbw, ubw = ca.MX(ca.DM(self._lbw0)), ca.MX(ca.DM(self._ubw0))
            lbw[self._ix[0].tolist()] = ubw[self._ix[0].tolist()] = xb[:NX]
            ubw[self._iu[:, 1].tolist()] = ca.repmat(xb[NX], N, 1)
            fun = ca.Function(
                "qpdata",
                [w, ca.vertcat(Pall, xb)],
                [H, ca.vertcat(ca.vec(gs), g_N), A, self._lbg - gv, self._ubg - gv, lbw - w, ubw - w],
                ["w", "p"],
                ["h", "g", "a", "lba", "uba", "lbx", "ubx"],
            )
            self._qpdata = self._maybe_jit(fun)
            self._qp = ca.conic("qp", c.qp_solver, {"h": H.sparsity(), "a": A.sparsity()}, self._qp_opts())
        else:
            R, g = self._stage.map(N)(*stage_in)
            R = ca.vertcat(ca.vec(R), self._terminal(w[N * nz :], P[:, N]))
            nlp = {"x": w, "p": Pall, "f": 0.5 * ca.sumsqr(R), "g": ca.vec(g)}
            self._nlp = ca.nlpsol("nlp", self._nlpsol_name(), nlp, self._nlp_opts())
        self._w = None  # current iterate (scaled)
        self._lam_g = None
        self._lam_x = None
        self._accepted = None  # (w, step index) of the last accepted plan
        self._since_accept = 0
        self._s_abs = None
        self.disturbance = np.zeros(3)
        self._v_pred = None  # model prediction of [vx, vy, r] at the next call
        self._kappa = np.zeros(N + 1)  # path curvature along the last plan (its progress, _progress)
        self._built = True
        return self

    def _maybe_jit(self, fun):
        """``fun`` compiled with the C compiler (see :func:`compile_function`) when ``cfg.jit`` asks
        for it and one is found; the interpreted function otherwise."""
        self.jit_library = None
        if self.cfg.jit is False:
            return fun
        so = compile_function(fun, required=self.cfg.jit is True)
        if so is None:
            return fun
        self.jit_library = str(so)
        return ca.external(fun.name(), str(so))

    def _qp_opts(self):
        name = self.cfg.qp_solver
        if name == "hpipm":
            N = self.cfg.N
            # scaled variables are O(1): 1e4 is "infinite"; the default 1e8 stalls the interior point
            return {
                "N": N,
                "nx": [NX] * (N + 1),
                "nu": [NU] * N + [0],
                "ng": [2] * N + [0],
                "inf": 1e4,
                "hpipm": {
                    "iter_max": 50,
                    "mode": "speed_abs",
                    "res_g_max": 1e-6,
                    "res_b_max": 1e-8,
                    "res_d_max": 1e-8,
                    "res_m_max": 1e-8,
                },
                "error_on_fail": False,
            }
        if name == "qrqp":
            return {"print_iter": False, "print_header": False, "error_on_fail": False, "max_iter": 100}
        if name == "osqp":
            return {
                "osqp.verbose": False,
                "osqp.eps_abs": 1e-6,
                "osqp.eps_rel": 1e-6,
                "osqp.polish": True,
                "warm_start_primal": True,
                "error_on_fail": False,
            }
        return {"printLevel": "none", "error_on_fail": False, "sparse": True}

    def _nlpsol_name(self):
        return {"sqp": "sqpmethod", "ipopt": "ipopt", "fatrop": "fatrop"}[self.cfg.solver]

    def _nlp_opts(self):
        c = self.cfg
        if c.solver == "ipopt":
            return {
                "expand": True,  # the mapped MX stages become one SX graph: faster evaluation
                "ipopt.print_level": 0,
                "print_time": False,
                "ipopt.sb": "yes",
                "ipopt.max_iter": c.max_iter,
                "ipopt.warm_start_init_point": "yes",
                "ipopt.tol": 1e-6,
                "ipopt.mu_init": 1e-3,
                "ipopt.warm_start_bound_push": 1e-6,
                "ipopt.warm_start_mult_bound_push": 1e-6,
            }
        if c.solver == "fatrop":
            return {
                "expand": True,
                "structure_detection": "auto",
                "equality": self._eq_flags,
                "print_time": False,
                "fatrop.print_level": 0,
                "fatrop.max_iter": c.max_iter,
                "fatrop.tol": 1e-6,
            }
        return {
            "expand": True,
            "qpsol": c.qp_solver,
            "print_time": False,
            "print_header": False,
            "print_iteration": False,
            "tol_pr": 1e-6,
            "tol_du": 1e-4,
            "print_status": False,
            "max_iter": c.max_iter,
            "convexify_strategy": "regularize",
            "qpsol_options": {
                k: v
                for k, v in self._qp_opts().items()
                if not k.startswith("hpipm") and k not in ("N", "nx", "nu", "ng")
            },
            "error_on_fail": False,
        }

    # ------------------------------------------------------------------------------------------
    # bounds, references, guesses
    def _static_bounds(self):
        """Bounds of ``w`` that do not change between steps (scaled); ``_bounds`` fills in the rest."""
        lbw = np.full(self._nw, -np.inf)
        ubw = np.full(self._nw, np.inf)
        lbw[self._iu[:, 0]], ubw[self._iu[:, 0]] = -1.0, 1.0  # delta / delta_max
        lbw[self._iu[:, 1]] = self.Fx_min / self.u_scale[1]
        lbw[self._ix[1:, 0]] = 0.5 / self.x_scale[0]  # keep vx > 0 in the prediction
        return lbw, ubw

    def _bounds(self, x0_phys, vx):
        lbw, ubw = self._lbw0.copy(), self._ubw0.copy()
        ubw[self._iu[:, 1]] = self.input_bounds(vx)[1][1] / self.u_scale[1]  # power limit at this speed
        lbw[self._ix[0]] = ubw[self._ix[0]] = x0_phys / self.x_scale
        return lbw, ubw

    def input_bounds(self, vx: float = 0.0):
        """``(lo, hi)`` of ``[delta, Fx]`` (rad, N) at speed ``vx`` (power limit)."""
        Fx_hi = min(self.Fx_max, self.vehicle.P_max / max(vx, 1.0))
        return np.array([-self.delta_max, self.Fx_min]), np.array([self.delta_max, max(Fx_hi, self.Fx_min)])

    def _refs(self, t, s_now, s_rel):
        N, dt = self.cfg.N, self.cfg.dt_s
        tk = t + dt * np.arange(N + 1)
        ref = np.asarray(self.reference(tk, s_now + s_rel), float)
        if ref.shape != (N + 1, NREF) or not np.all(np.isfinite(ref)):
            raise DriftError(
                f"reference returned shape {ref.shape} or non-finite values; expected ({N + 1}, {NREF})"
            )
        return ref

    def _w_from_traj(self, X, U):
        w = np.zeros(self._nw)
        w[self._ix] = X / self.x_scale
        w[self._iu] = U / self.u_scale
        return w

    def plan(self, w=None):
        """``(X (N+1, 7), U (N, 2))`` of an iterate in physical units (default: the current one); ``X``
        holds ``[vx, vy, r, e, dpsi, delta_prev, Fx_prev]``."""
        w = self._w if w is None else w
        return w[self._ix] * self.x_scale, w[self._iu] * self.u_scale

    def _shifted(self, w, j=1):
        X, U = self.plan(w)
        X = np.concatenate([X[j:], np.repeat(X[-1:], j, 0)])
        U = np.concatenate([U[j:], np.repeat(U[-1:], j, 0)])
        return X, U

    def _shift(self, w):
        """``w`` shifted by one interval (the warm start of the next step), the last input and state
        repeated: ``_shifted(w, 1)`` without the round trip through physical units."""
        nz = NX + NU
        return np.concatenate([w[nz:], w[-nz:]])

    def _progress(self, X):
        """Path progress (m, relative to the first node) along planned states ``X (N+1, >=5)``:
        ``s_dot = (vx cos(dpsi) - vy sin(dpsi)) / (1 - kappa e)`` integrated by the trapezoidal rule
        (``s`` is not a state of the OCP: nothing in the dynamics or cost depends on it)."""
        vx, vy, e, dpsi = X[:, 0], X[:, 1], X[:, 3], X[:, 4]
        sdot = (vx * np.cos(dpsi) - vy * np.sin(dpsi)) / (1.0 - self._kappa * e)
        return np.concatenate([[0.0], np.cumsum(0.5 * self.cfg.dt_s * (sdot[1:] + sdot[:-1]))])

    def _predicted(self, X):
        """``[vx, vy, r, e, dpsi, s]`` of a plan's states (``Diagnostics.predicted``)."""
        return np.column_stack([X[:, :5], self._progress(X)])

    # ------------------------------------------------------------------------------------------
    # solving
    def _solve(self, x0, ref):
        """One solve from the current guess ``self._w``. Returns ``(w, success, iterations, status)``."""
        c = self.cfg
        lbw, ubw = self._bounds(x0, x0[0])
        Pv = np.concatenate([ref.ravel(), self.disturbance])  # ref.ravel() == vec(ref.T), column-major
        w = np.clip(self._w, lbw, ubw)
        if c.solver == "rti":
            n_it = c.init_iterations if self._accepted is None else 1
            ok, status = True, ""
            Pq = np.concatenate([Pv, lbw[self._ix[0]], ubw[self._iu[:1, 1]]])
            for _ in range(n_it):
                dw = self._qp(**self._qpdata(w=w, p=Pq))["x"].full().ravel()
                st = self._qp.stats()
                ok, status = bool(st.get("success", False)), str(st.get("return_status", ""))
                if not ok or not np.all(np.isfinite(dw)):
                    break
                w = w + dw
            return w, ok, n_it, status
        kw = {"x0": w, "p": Pv, "lbx": lbw, "ubx": ubw, "lbg": self._lbg, "ubg": self._ubg}
        if self._lam_g is not None and c.solver == "ipopt":
            kw["lam_g0"], kw["lam_x0"] = self._lam_g, self._lam_x
        sol = self._nlp(**kw)
        st = self._nlp.stats()
        self._lam_g, self._lam_x = np.array(sol["lam_g"]).ravel(), np.array(sol["lam_x"]).ravel()
        return (
            np.array(sol["x"]).ravel(),
            bool(st.get("success", False)),
            int(st.get("iter_count", 0)),
            str(st.get("return_status", "")),
        )

    def step(self, state, t: float):
        """Command for the measured full state.

        Args:
            state: ``[X, Y, psi, vx, vy, r]`` (6,): world position (m), yaw (rad), body-frame
                velocities (m/s) and yaw rate (rad/s), as :data:`drift.vehicle.STATE_NAMES`
                (ROS: ``/odom`` pose in ``map``, twist in ``base_link``). Needs ``path``.
            t: time (s), used by time-scheduled references.

        Returns:
            ``(u, diagnostics)``: ``u = [delta, Fx]`` (rad, N; finite, inside the bounds and rate
            limits) and a :class:`Diagnostics`.
        """
        if self.path is None:
            raise DriftError("DriftMPC.step needs a path for pose input; give path=... or call step_frenet")
        st = np.asarray(state, float).reshape(-1)
        if st.shape != (6,):
            raise DriftError(
                f"DriftMPC.step: state must be [X, Y, psi, vx, vy, r] (6,), got shape {st.shape}"
            )
        if not np.all(np.isfinite(st)):
            return self._fallback(st[3:6], np.zeros(3), "non-finite state", 0.0)
        s, e, dpsi = self.path.project(st[0], st[1], st[2], self._s_abs)
        return self.step_frenet(st[3:6], np.array([e, dpsi, s]), t)

    def step_frenet(self, v, errors, t: float):
        """Command from body velocities and path errors.

        Args:
            v: ``[vx, vy, r]`` (m/s, m/s, rad/s), body frame.
            errors: ``[e, dpsi, s]``: lateral error (m, + left of the path), heading error
                ``psi - heading_path`` (rad) and absolute progress along the path (m).
            t: time (s).

        Returns: as :meth:`step`.
        """
        if not self._built:
            raise DriftError("DriftMPC: call setup() before step()")
        v = np.asarray(v, float).reshape(3)
        errors = np.asarray(errors, float).reshape(3)
        if not (np.all(np.isfinite(v)) and np.all(np.isfinite(errors))):
            return self._fallback(v, errors, "non-finite state", 0.0)
        c = self.cfg
        self._s_abs = float(errors[2])
        if self._v_pred is not None and c.disturbance_gain > 0:
            # offset-free MPC: integrate the one-step prediction error into an acceleration offset
            innov = (v - self._v_pred) / c.dt_s
            self.disturbance = np.clip(
                self.disturbance + c.disturbance_gain * innov, -self._d_max, self._d_max
            )
        x0 = np.concatenate([v, errors[:2], self.u_prev])
        t0 = time.perf_counter()
        try:
            if self._w is None:
                ref = self._refs(t, errors[2], v[0] * c.dt_s * np.arange(c.N + 1))
                X = np.array(self._rollout(x0, self.u_prev, ref.T)).T
                self._w = self._w_from_traj(X, np.repeat(self.u_prev[None], c.N, 0))
            else:
                ref = self._refs(t, errors[2], self._s_plan)
            w, ok, iters, status = self._solve(x0, ref)
            if ok and not np.all(np.isfinite(w)):
                ok, status = False, "non-finite solution"
        except Exception as ex:  # noqa: BLE001 - any solver failure falls back
            w, ok, iters, status = None, False, 0, f"exception: {type(ex).__name__}: {ex}"
        solve_ms = (time.perf_counter() - t0) * 1e3
        cold = self._accepted is None and c.solver == "rti"  # a cold start iterates; it is not budgeted
        if ok and solve_ms > c.time_budget_ms and not cold:
            ok, status = False, f"over budget ({solve_ms:.1f} ms > {c.time_budget_ms} ms)"
        if not ok:
            return self._fallback(v, errors, status, solve_ms, iters)
        X, U = self.plan(w)
        lo, hi = self.input_bounds(v[0])
        u = saturate(U[0], self.u_prev, lo, hi, self.rate_per_step * (1 + 1e-6))
        self._accepted = w
        self._since_accept = 0
        self.u_prev = u
        self._v_pred = self._predict_v(x0, u, ref[0, 0])  # not the plan's linearised x_1: worse tracking
        self._w = self._shift(w)
        self._kappa = ref[:, 0]
        predicted = self._predicted(X)
        s = predicted[:, 5]
        self._s_plan = np.concatenate([s[1:], [2 * s[-1] - s[-2]]]) - s[1]  # progress of the shifted plan
        return u, Diagnostics(solve_ms, iters, status, True, "mpc", predicted, U, errors)

    def _fallback(self, v, errors, status, solve_ms, iters=0):
        """Shifted previous plan while it lasts, then the stabilising controller."""
        c = self.cfg
        vx = float(v[0]) if np.isfinite(v[0]) else 0.0
        lo, hi = self.input_bounds(vx)
        self._since_accept += 1
        if self._accepted is not None and self._since_accept <= min(c.max_shifted_steps, c.N - 1):
            X, U = self._shifted(self._accepted, self._since_accept)
            u = saturate(U[0], self.u_prev, lo, hi, self.rate_per_step)
            source = "shifted"
            self._w = self._w_from_traj(X, U)
            self._s_plan = self._progress(X)
        else:
            u = saturate(stabilising_command(v, self.vehicle), self.u_prev, lo, hi, self.rate_per_step)
            source = "stabilizer"
            X = U = None
            self._accepted = None  # re-initialise the NLP from a rollout once the solver recovers
            self._w = None
            self._lam_g = self._lam_x = None
        if not np.all(np.isfinite(u)):  # u_prev itself broken: neutral command
            u = np.clip(np.zeros(2), lo, hi)
        self.u_prev = u
        self._v_pred = None
        if X is None:
            X, U = np.zeros((c.N + 1, NX)), np.repeat(u[None], c.N, 0)
            if np.all(np.isfinite(v)):
                X[:, 0:3] = v
        return u, Diagnostics(
            solve_ms,
            iters,
            status,
            False,
            source,
            np.nan_to_num(self._predicted(X)),
            np.nan_to_num(U).copy(),
            np.nan_to_num(np.asarray(errors, float)),
        )

    def _predict_v(self, x0, u, kappa):
        z = self._pred.args[0]
        z[0:5], z[5:7], z[7], z[8:11] = x0[0:5], u, kappa, self.disturbance
        self._pred()
        out = self._pred.res[0].copy()
        return out if np.all(np.isfinite(out)) else None

    def reset(self, u_prev=(0.0, 0.0)):
        """Forget the warm start and the previous command."""
        self.u_prev = np.array(u_prev, float)
        self._w = self._accepted = self._lam_g = self._lam_x = self._s_abs = self._v_pred = None
        self._since_accept = 0
        self.disturbance = np.zeros(3)
