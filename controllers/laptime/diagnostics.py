"""Diagnostics of a solve: IPOPT's status in words and the active or violated constraint groups."""

from __future__ import annotations

import numpy as np

#: IPOPT return statuses that count as converged
CONVERGED = ("Solve_Succeeded", "Solved_To_Acceptable_Level")

#: IPOPT return status -> plain-words reason
REASONS = {
    "Infeasible_Problem_Detected": "infeasible (IPOPT stopped at a local minimum of constraint violation)",
    "Maximum_Iterations_Exceeded": "iteration limit reached",
    "Maximum_CpuTime_Exceeded": "time limit reached",
    "Maximum_WallTime_Exceeded": "time limit reached",
    "Restoration_Failed": "restoration phase failed (no feasible step found)",
    "Search_Direction_Becomes_Too_Small": "search direction became too small",
    "Diverging_Iterates": "iterates diverged",
    "Error_In_Step_Computation": "error in step computation",
    "Not_Enough_Degrees_Of_Freedom": "not enough degrees of freedom",
    "Invalid_Number_Detected": "NaN or inf in a model evaluation",
    "Invalid_Problem_Definition": "invalid problem definition (inconsistent bounds)",
}


def active_constraints(gval, lbg, ubg, sizes, w, lbw, ubw, N):
    """Count nodes at which each constraint group is active or violated; largest violation per group."""
    active, violation = {}, {}
    i = 0
    for name, k in sizes.items():
        gv, lo, hi = gval[i : i + k], lbg[i : i + k], ubg[i : i + k]
        i += k
        viol = np.maximum(np.maximum(lo - gv, gv - hi), 0.0)
        violation[name] = float(np.max(viol)) if k else 0.0
        if name == "dynamics":
            active[name] = 0  # every node is on its defect constraints: not informative
            continue
        tol = 1e-3 * np.maximum(1.0, np.abs(np.where(np.isfinite(hi), hi, lo)))
        at = (np.isfinite(hi) & (gv >= hi - tol)) | (np.isfinite(lo) & (gv <= lo + tol))
        active[name] = int(np.sum(at))
    # variable bounds: track edges, steering angle, drive and brake force
    Wv, Lo, Hi = w.reshape(N, 7), lbw.reshape(N, 7), ubw.reshape(N, 7)
    for name, col, side in (
        ("track_left", 3, "hi"),
        ("track_right", 3, "lo"),
        ("steer_max", 5, "both"),
        ("drive_force", 6, "hi"),
        ("brake_force", 6, "lo"),
    ):
        x, lo, hi = Wv[:, col], Lo[:, col], Hi[:, col]
        tol = 1e-3 * np.maximum(np.abs(hi), 1.0) if side != "lo" else 1e-3 * np.maximum(np.abs(lo), 1.0)
        if side == "hi":
            at, viol = x >= hi - tol, x - hi
        elif side == "lo":
            at, viol = x <= lo + tol, lo - x
        else:
            at, viol = (x >= hi - tol) | (x <= lo + tol), np.maximum(x - hi, lo - x)
        active[name] = int(np.sum(at))
        violation[name] = float(max(np.max(viol), 0.0))
    return active, violation
