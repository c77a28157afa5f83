"""Figures of a closed-loop drift run: trajectory with headings, time series, animation (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _car_outline(x, y, psi, L=4.2, W=1.85):
    c, s = math.cos(psi), math.sin(psi)
    pts = np.array(
        [
            [L / 2, W / 2],
            [-L / 2, W / 2],
            [-L / 2, -W / 2],
            [L / 2, -W / 2],
            [L / 2 + 0.6, 0.0],
            [L / 2, W / 2],
        ]
    )
    R = np.array([[c, -s], [s, c]])
    return pts @ R.T + np.array([x, y])


def plot_trajectory(out: dict, path_png: str | Path, every_s: float = 0.5) -> Path:
    """Path (dashed), driven trajectory (coloured by |sideslip|) and the car's heading as arrows."""
    plt = _plt()
    x, t = out["x"], out["t"]
    path = out["path"]
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.plot(path.xy[:, 0], path.xy[:, 1], "k--", lw=1, label="reference path")
    sc = ax.scatter(
        x[:, 0], x[:, 1], c=np.degrees(np.abs(out["beta"])), s=3, cmap="viridis", label="car (CG)"
    )
    fig.colorbar(sc, ax=ax, label="|sideslip| (deg)")
    k = max(1, int(round(every_s / (t[1] - t[0])))) if len(t) > 1 else 1
    idx = np.arange(0, len(t), k)
    ax.quiver(
        x[idx, 0],
        x[idx, 1],
        np.cos(x[idx, 2]),
        np.sin(x[idx, 2]),
        color="tab:red",
        scale=25,
        width=0.004,
        label="heading",
    )
    vel = np.arctan2(x[idx, 4], x[idx, 3]) + x[idx, 2]
    ax.quiver(
        x[idx, 0],
        x[idx, 1],
        np.cos(vel),
        np.sin(vel),
        color="tab:blue",
        scale=25,
        width=0.003,
        alpha=0.6,
        label="velocity",
    )
    ax.set_aspect("equal")
    ax.set_xlabel("X (m)")
    ax.set_ylabel("Y (m)")
    m = out["metrics"]
    ax.set_title(
        f"{out['scenario'].name}: beta RMSE {m['beta_rmse_deg']:.2f} deg, path RMSE {m['path_rmse_m']:.2f} m"
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path_png, dpi=120)
    plt.close(fig)
    return Path(path_png)


def plot_timeseries(out: dict, path_png: str | Path) -> Path:
    """Sideslip, yaw rate, speed, lateral error, steering, drive force and solve time against time."""
    plt = _plt()
    t, x, u, ref = out["t"], out["x"], out["u"], out["ref"]
    fig, axs = plt.subplots(7, 1, figsize=(9, 13), sharex=True)
    rows = [
        (np.degrees(out["beta"]), np.degrees(ref[:, 1]), "beta (deg)"),
        (x[:, 5], ref[:, 2], "r (rad/s)"),
        (x[:, 3], ref[:, 3], "vx (m/s)"),
        (out["e"], np.zeros_like(t), "lateral error e (m)"),
        (u[:, 0], ref[:, 4], "delta (rad)"),
        (u[:, 1] / 1e3, ref[:, 5] / 1e3, "Fx (kN)"),
    ]
    for ax, (y, yr, lab) in zip(axs, rows, strict=False):
        ax.plot(t, y, lw=1.2, label="closed loop")
        ax.plot(t, yr, "k--", lw=0.8, label="reference")
        ax.set_ylabel(lab, fontsize=8)
        ax.grid(alpha=0.3)
    axs[0].legend(fontsize=8)
    fb = out["source"] != "mpc"
    axs[6].semilogy(t, np.maximum(out["solve_ms"], 1e-3), lw=0.8, label="solve")
    if fb.any():
        axs[6].plot(t[fb], np.maximum(out["solve_ms"][fb], 1e-3), "rx", ms=3, label="fallback")
    axs[6].axhline(out["config"].time_budget_ms, color="r", lw=0.8, ls=":", label="budget")
    axs[6].set_ylabel("solve (ms)", fontsize=8)
    axs[6].legend(fontsize=7)
    axs[-1].set_xlabel("t (s)")
    settle = out["scenario"].settle_s
    for ax in axs:
        ax.axvline(settle, color="gray", lw=0.6, ls=":")
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)
    return Path(path_png)


def animate(out: dict, path_gif: str | Path, fps: int = 10, max_frames: int = 150) -> Path:
    """GIF of the car (outline and heading) on the path with its trail and the NMPC's predicted CG path."""
    plt = _plt()
    from matplotlib.animation import FuncAnimation, PillowWriter

    x, t = out["x"], out["t"]
    path = out["path"]
    dt = t[1] - t[0] if len(t) > 1 else 0.02
    step = max(1, int(round(1.0 / (fps * dt))), int(math.ceil(len(t) / max_frames)))
    frames = list(range(0, len(t), step))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(path.xy[:, 0], path.xy[:, 1], "k--", lw=0.8)
    pad = 5.0
    ax.set_xlim(min(path.xy[:, 0].min(), x[:, 0].min()) - pad, max(path.xy[:, 0].max(), x[:, 0].max()) + pad)
    ax.set_ylim(min(path.xy[:, 1].min(), x[:, 1].min()) - pad, max(path.xy[:, 1].max(), x[:, 1].max()) + pad)
    ax.set_aspect("equal")
    (trail,) = ax.plot([], [], "tab:blue", lw=1)
    (car,) = ax.plot([], [], "tab:red", lw=2)
    (pred,) = ax.plot([], [], "tab:green", lw=1, alpha=0.8)
    txt = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", fontsize=8)

    def predicted_xy(k):
        """Predicted CG positions from the Frenet prediction (progress s, lateral error e)."""
        P = out["pred"][k]
        s0 = out["s"][k]
        return path.position(s0 + P[:, 5], P[:, 3])

    def draw(i):
        k = frames[i]
        trail.set_data(x[: k + 1, 0], x[: k + 1, 1])
        o = _car_outline(x[k, 0], x[k, 1], x[k, 2])
        car.set_data(o[:, 0], o[:, 1])
        pxy = predicted_xy(k)
        pred.set_data(pxy[:, 0], pxy[:, 1])
        txt.set_text(
            f"t {t[k]:4.1f} s  beta {math.degrees(out['beta'][k]):6.1f} deg  "
            f"delta {out['u'][k, 0]:+.2f} rad  Fx {out['u'][k, 1] / 1e3:4.1f} kN"
        )
        return trail, car, pred, txt

    anim = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    anim.save(str(path_gif), writer=PillowWriter(fps=fps), dpi=70)
    plt.close(fig)
    return Path(path_gif)
