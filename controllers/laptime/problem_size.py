"""Size of the lap-time NLP before it is built: nodes, variables, memory, and whether it fits.

A 0.01 m grid on Monza (580 000 nodes, 4 million variables) ran for minutes, filled 24 GB and was
killed without a word; :func:`check_problem_size` refuses such a grid up front, naming the estimate,
the memory available and the smallest grid that fits.

Calibration (peak RSS by ``resource.getrusage`` over one :func:`min_lap_time` call, coarse 12 m solve
then the fine grid, trapezoidal, ``graph="mx"``, MUMPS; Monza, 5 793 m; the process's 330 MB of
imports excluded): 6 m grid (965 nodes) 29 MB, 3 m (1 930) 90 MB, 1.5 m (3 860) 220 MB, i.e. 31, 47
and 57 kB per node, growing slowly with ``N`` (the sparse LDL^T factor's fill-in). The estimate takes
70 kB per node of 7 variables (10 kB per variable, scaled by the variables per node of the scheme),
which covers these with a margin; solve time was 7-10 ms per node (one core), given as a rough guide.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from controllers.laptime.config import LapTimeConfig, LapTimeError
from controllers.laptime.geometry import grid_nodes

#: peak memory per decision variable of the solve (bytes), calibrated above
BYTES_PER_VARIABLE = 10e3
#: solve time per grid node (s), one core, calibrated above (rough)
SECONDS_PER_NODE = 0.01
#: share of the available memory a solve may plan to use
MEMORY_SHARE = 0.8


@dataclass(frozen=True)
class ProblemSize:
    """Estimated size of the NLP on one grid.

    Attributes:
        nodes: grid nodes ``N``. variables: decision variables. constraints: constraint rows.
        memory_bytes: estimated peak memory of building and solving it (bytes).
        solve_s: rough solve time (s) on one core.
    """

    nodes: int
    variables: int
    constraints: int
    memory_bytes: float
    solve_s: float


def variables_per_node(config: LapTimeConfig) -> int:
    """Decision variables per node: 5 states and 2 inputs, plus 5 midpoint states (Hermite-Simpson)."""
    return 7 + (5 if config.scheme == "hermite_simpson" else 0)


def constraints_per_node(config: LapTimeConfig) -> int:
    """Constraint rows per node: defects, steering rate, axle friction, power, forward speed and the
    optional grip, slip and sideslip bounds."""
    n = 5 + 2 + 2 + 1 + 1
    n += 5 if config.scheme == "hermite_simpson" else 0
    n += sum(2 for lim in (config.grip_limit, config.slip_limit, config.beta_limit) if lim is not None)
    return n


def estimate_problem_size(length_m: float, config: LapTimeConfig) -> ProblemSize:
    """Size of the NLP of a closed track of ``length_m`` (m) on ``config.grid_m`` (the finest grid)."""
    N = grid_nodes(length_m, config.grid_m)
    nv = N * variables_per_node(config)
    return ProblemSize(
        nodes=N,
        variables=nv,
        constraints=N * constraints_per_node(config),
        memory_bytes=nv * BYTES_PER_VARIABLE,
        solve_s=N * SECONDS_PER_NODE,
    )


def available_memory_bytes() -> int:
    """Memory available to a new allocation (bytes): ``MemAvailable`` of /proc/meminfo (Linux), else
    free pages by ``os.sysconf``."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def check_problem_size(
    length_m: float, config: LapTimeConfig, available_bytes: int | None = None
) -> ProblemSize:
    """The :func:`estimate_problem_size` of the fine grid, or LapTimeError when it does not fit.

    Args:
        length_m: closed length of the track's centre line (m).
        config: the settings (``grid_m``, ``scheme``, the optional constraints).
        available_bytes: memory available (bytes); default :func:`available_memory_bytes`.

    Raises:
        LapTimeError (a DriftError): the estimated peak memory exceeds ``MEMORY_SHARE`` of the memory
            available; the message names both and the smallest grid that fits.
    """
    size = estimate_problem_size(length_m, config)
    avail = available_memory_bytes() if available_bytes is None else int(available_bytes)
    budget = MEMORY_SHARE * avail
    if size.memory_bytes <= budget:
        return size
    n_max = budget / (BYTES_PER_VARIABLE * variables_per_node(config))
    grid_min = math.ceil(100.0 * length_m / max(n_max, 1.0)) / 100.0  # rounded up to a centimetre
    raise LapTimeError(
        f"grid_m = {config.grid_m:g} m is too fine for this machine: {size.nodes} nodes and "
        f"{size.variables} variables on {length_m:.0f} m of track need about "
        f"{size.memory_bytes / 1e9:.1f} GB (and roughly {size.solve_s / 60:.0f} min), but "
        f"{avail / 1e9:.1f} GB is available ({MEMORY_SHARE:.0%} of it may be used); the smallest grid "
        f"that fits is about {grid_min:g} m (2-3 m is the tested range)"
    )
