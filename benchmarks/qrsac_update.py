"""Benchmark: one QR-SAC learner update (critics, actor, alpha, targets) with the image actor, in ms.

A batch of ``--batch`` n-step windows with 64x64 images (the defaults of ``QRSACConfig``), random values,
updated ``--reps`` times by :class:`controllers.qrsac.qrsac.Learner`. Two ways of feeding the uint8
images to the encoder's first convolution, timed in turn in this process:

- ``drift``: the encoder's own (cast the contiguous (B, H, W, 3) bytes to float, then view as NCHW);
- ``baseline``: view as NCHW first, then cast the strided view (what the encoder did before).

Both give the same input values; the table gives ms per update and the ratio. At an update-to-data ratio
``utd`` an image run spends ``utd`` updates per car-step, so the update time bounds its car-steps/s.

    python benchmarks/qrsac_update.py [--batch 256] [--reps 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import torch

    from controllers.qrsac.buffer import Batch
    from controllers.qrsac.networks import ImageEncoder
    from controllers.qrsac.qrsac import Agent, Learner, QRSACConfig

    cfg = QRSACConfig()
    shapes = {"image": (64, 64, 3), "proprio": (12,), "privileged": (365,)}
    torch.manual_seed(0)
    learner = Learner(Agent(cfg, shapes))
    rng = np.random.default_rng(0)
    B = args.batch

    def obs():
        return {
            "image": rng.integers(0, 256, (B, *shapes["image"]), dtype=np.uint8),
            "proprio": rng.standard_normal((B, 12)).astype(np.float32),
            "privileged": rng.standard_normal((B, 365)).astype(np.float32),
        }

    n = cfg.n_step
    batch = Batch(
        obs=obs(),
        action=rng.uniform(-1, 1, (B, 2)).astype(np.float32),
        rewards=rng.standard_normal((B, n)).astype(np.float32),
        terminated=np.zeros((B, n), bool),
        truncated=np.zeros((B, n), bool),
        next_obs=obs(),
    )

    drift_forward = ImageEncoder.forward

    def baseline_forward(self, image):
        return self.head(self.conv(image.permute(0, 3, 1, 2).float() / 255.0))

    enc = learner.agent.actor.inputs.encoder
    img = torch.as_tensor(batch.obs["image"])
    same = torch.equal(drift_forward(enc, img), baseline_forward(enc, img))

    def ms_per_update() -> float:
        for _ in range(3):
            learner.update(batch)
        t0 = time.perf_counter()
        for _ in range(args.reps):
            learner.update(batch)
        return (time.perf_counter() - t0) / args.reps * 1e3

    times = {"drift": [], "baseline": []}
    for r in range(args.rounds):
        for name, fwd in (("baseline", baseline_forward), ("drift", drift_forward)):
            ImageEncoder.forward = fwd
            times[name].append(ms_per_update())
        print(f"round {r + 1} of {args.rounds}: baseline {times['baseline'][-1]:.1f} ms, "
              f"drift {times['drift'][-1]:.1f} ms", flush=True)
    ImageEncoder.forward = drift_forward

    base, ours = float(np.median(times["baseline"])), float(np.median(times["drift"]))
    print(f"\nbatch {B}, 64x64 images, torch threads {torch.get_num_threads()}, same encoder output: {same}")
    print("| image input | ms per update (median) | updates/s | bound on car-steps/s at utd "
          f"{cfg.utd} |\n|---|---:|---:|---:|")
    for name, ms in (("baseline: cast the NCHW view", base), ("drift: cast, then view", ours)):
        print(f"| {name} | {ms:.1f} | {1e3 / ms:.1f} | {1e3 / ms / cfg.utd:.0f} |")
    print(f"speed-up: {base / ours:.2f}x")


if __name__ == "__main__":
    main()
