"""Plots of a fit (matplotlib, Agg backend): tyre curves over force samples, held-out time series."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def plot_curves(
    samples: dict[str, np.ndarray], curves: dict[str, object], path: str | Path, title: str = ""
) -> Path:
    """Normalised lateral force ``Fy/Fz`` vs slip angle, per axle: samples and every model's curve.

    Args:
        samples: output of :func:`tire_models.fit.pipeline.force_samples` (``alpha_f``, ``Fyf``, ...).
        curves: model name -> :class:`tire_models.base.AxleTires` (evaluated at the mean axle load).
        path: PNG to write.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, axle, k in ((axes[0], "front", "f"), (axes[1], "rear", "r")):
        al, Fz = samples[f"alpha_{k}"], samples[f"Fz{k}"]
        F = samples[f"Fy{k}"] / Fz
        ax.scatter(np.degrees(al), F, s=2, alpha=0.25, color="0.5", label="estimated from log")
        lim = max(0.05, float(np.percentile(np.abs(al), 99.5)) * 1.6)
        grid = np.linspace(-lim, lim, 401)
        Fz0 = float(np.mean(Fz))
        for name, tires in curves.items():
            tire = getattr(tires, axle)
            with torch.no_grad():
                y = tire.lateral_force(torch.as_tensor(grid), torch.as_tensor(Fz0))
            ax.plot(np.degrees(grid), np.asarray(y, float) / Fz0, lw=2, label=name)
        ax.set_title(f"{axle} axle")
        ax.set_xlabel("slip angle (deg)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Fy / Fz (-)")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_timeseries(
    t: np.ndarray, measured: np.ndarray, predicted: dict[str, np.ndarray], path: str | Path, title: str = ""
) -> Path:
    """Measured vs predicted ``vx, vy, r`` on the held-out part.

    Args:
        t: ``(N,)`` time (s).
        measured: ``(N, 3)`` logged ``[vx, vy, r]``.
        predicted: name -> ``(N, 3)`` predictions (NaN where none), e.g. open-loop rollouts
            restarted from the log every horizon.
    """
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    labels = ("vx (m/s)", "vy (m/s)", "r (rad/s)")
    for i, ax in enumerate(axes):
        ax.plot(t, measured[:, i], color="k", lw=1.2, label="measured")
        for name, y in predicted.items():
            ax.plot(t, y[:, i], lw=1.0, label=name)
        ax.set_ylabel(labels[i])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=4)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
