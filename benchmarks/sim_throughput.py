"""Benchmark: racing-simulator throughput in car-steps per second (one car-step = one 10 Hz control step
of one car, with all its physics substeps, projection, walls, lap timing, reward and observations).

Measured in the same run:
- state-only, ``--cars`` cars batched (default 1024), camera off;
- with 64x64 camera images, ``--image-cars`` cars batched (default 256);
- the baseline: a plain Python loop stepping ONE car at a time through the same simulator (B = 1),
  with and without the camera.
Targets (issue 5, 2 CPU cores): >= 50,000 car-steps/s state-only with 1024 cars, >= 5,000 with images
and 256 cars.

    python benchmarks/sim_throughput.py [--track Monza] [--steps 30] [--physics-hz 100] [--integrator rk4]
"""

from __future__ import annotations

import argparse
import os
import time


def measure(env, steps: int, rng) -> tuple[float, float]:
    """Car-steps per wall-clock second and per CPU second of this process for ``env`` (a VecRacingEnv)
    over ``steps`` batched steps (after 2 warm-up steps). CPU time shows the cost without the other
    processes that share the machine."""
    import numpy as np

    B = env.num_envs
    act = np.column_stack([rng.uniform(-0.2, 0.2, B), rng.uniform(0.2, 1.0, B)])
    for _ in range(2):
        env.step(act)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        env.step(act)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return B * steps / wall, B * steps / max(cpu, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--track", default="Monza")
    ap.add_argument("--cars", type=int, default=1024)
    ap.add_argument("--image-cars", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--single-steps", type=int, default=100)
    ap.add_argument("--physics-hz", type=float, default=100.0)
    ap.add_argument("--integrator", default="rk4")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (camera)")
    ap.add_argument("--camera-sampling", default="bilinear", help="bilinear (grid_sample) or nearest")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from drift.racing import VecRacingEnv, load_config, scaled_track

    rng = np.random.default_rng(0)
    load0 = os.getloadavg()[0]
    tr = scaled_track(args.track)
    kw = dict(physics_hz=args.physics_hz, integrator=args.integrator)
    cfg_state = load_config("iac", camera=False, **kw)
    cfg_img = load_config("iac", camera=True, camera_sampling=args.camera_sampling, **kw)
    print(
        f"track {tr.name} ({tr.length_m:.0f} m), iac preset, {cfg_state.substeps} substeps per 0.1 s "
        f"({args.integrator}), camera {args.camera_sampling}, torch threads {args.threads}"
    )

    single_state = measure(VecRacingEnv.from_config(1, cfg_state, track=tr, seed=0), args.single_steps, rng)
    batch_state = measure(VecRacingEnv.from_config(args.cars, cfg_state, track=tr, seed=0), args.steps, rng)
    single_img = measure(VecRacingEnv.from_config(1, cfg_img, track=tr, seed=0), args.single_steps, rng)
    batch_img = measure(VecRacingEnv.from_config(args.image_cars, cfg_img, track=tr, seed=0), args.steps, rng)

    rows = [
        ("single car, state only (plain loop)", 1, single_state, None, single_state),
        ("batched, state only", args.cars, batch_state, 50_000, single_state),
        ("single car, 64x64 image (plain loop)", 1, single_img, None, single_img),
        ("batched, 64x64 image", args.image_cars, batch_img, 5_000, single_img),
    ]
    print(f"load average before: {load0:.1f} (cores: {os.cpu_count()})")
    hdr = f"{'configuration':<38} {'cars':>5} {'steps/s wall':>13} {'steps/s CPU':>12}"
    hdr += f" {'target':>7} {'vs loop':>8}"
    print(hdr)
    for name, B, (wall, cpu), target, base in rows:
        tgt = f"{target:>7,d}" if target else f"{'':>7}"
        print(f"{name:<38} {B:>5} {wall:>13,.0f} {cpu:>12,.0f} {tgt} {wall / base[0]:>7.1f}x")
    ok = batch_state[0] >= 50_000 and batch_img[0] >= 5_000
    print("targets met (wall clock)" if ok else "targets NOT met in wall-clock time on this machine/run")


if __name__ == "__main__":
    main()
