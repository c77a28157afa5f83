"""Networks of the QR-SAC agent: the image encoder, the squashed-Gaussian actor and the quantile critic.

Every network takes the observation dict (``image`` (B, H, W, 3) uint8, ``proprio`` (B, 12),
``privileged`` (B, 365) float32 tensors) and reads only the keys in its ``keys`` attribute, so an actor
built for ``image`` + ``proprio`` cannot see ``privileged`` even when the dict holds it.

Sizes are the CPU defaults of :class:`controllers.qrsac.qrsac.QRSACConfig` (the papers use 4 x 2048 MLPs
and a deeper CNN).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ImageEncoder", "Actor", "QuantileCritic", "obs_keys"]

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def obs_keys(kind: str) -> tuple[str, ...]:
    """Observation keys of an input kind: ``image`` (camera + proprio), ``state`` or ``privileged``
    (privileged + proprio, no pixels)."""
    return ("image", "proprio") if kind == "image" else ("privileged", "proprio")


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int) -> nn.Sequential:
    """Linear-ReLU layers of widths ``hidden`` from ``n_in`` to a linear output of ``n_out``."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """Small CNN (Nature-DQN shape, narrower): uint8 (B, H, W, 3) -> /255 -> (B, features).

    64x64 input: conv 8x8/4 (16) -> 15x15, conv 4x4/2 (32) -> 6x6, conv 3x3/1 (32) -> 4x4, linear ->
    ``features``, LayerNorm, tanh (as DrQ / SAC-AE encoders). Images under 48 px (tests, fast runs) use
    kernels/strides 4/2, 3/2, 3/1 instead (16x16 -> 7, 3, 1)."""

    def __init__(self, image_shape: tuple[int, int, int], features: int = 64):
        super().__init__()
        h, w, c = image_shape
        (k1, s1), (k2, s2) = ((8, 4), (4, 2)) if min(h, w) >= 48 else ((4, 2), (3, 2))
        self.conv = nn.Sequential(
            nn.Conv2d(c, 16, k1, stride=s1),
            nn.ReLU(),
            nn.Conv2d(16, 32, k2, stride=s2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, features), nn.LayerNorm(features), nn.Tanh())
        self.features = features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Features (B, features) of uint8 images (B, H, W, 3), RGB 0-255."""
        # convert while the bytes are contiguous, then view as NCHW: 1.3x faster updates than casting
        # the permuted view (benchmarks/qrsac_update.py), same values
        x = image.float().div_(255.0).permute(0, 3, 1, 2)
        return self.head(self.conv(x))


class _Inputs(nn.Module):
    """Concatenated features of ``keys``: the image through its own encoder, vectors as they are."""

    def __init__(self, keys: tuple[str, ...], shapes: dict[str, tuple[int, ...]], image_features: int):
        super().__init__()
        self.keys = tuple(keys)
        self.encoder = ImageEncoder(tuple(shapes["image"]), image_features) if "image" in keys else None
        self.dim = sum(image_features if k == "image" else int(math.prod(shapes[k])) for k in keys)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The inputs of ``keys`` concatenated, (B, dim): images through the encoder, vectors as they are."""
        parts = [self.encoder(obs[k]) if k == "image" else obs[k].float() for k in self.keys]
        return torch.cat(parts, dim=-1)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy over ``[steer, throttle_brake]`` in [-1, 1].

    Args:
        keys: observation keys it reads (``("image", "proprio")`` or ``("privileged", "proprio")``).
        shapes: observation shapes per key (one car). hidden: MLP widths. image_features: CNN output size.
    """

    def __init__(
        self,
        keys: tuple[str, ...],
        shapes: dict[str, tuple[int, ...]],
        hidden: tuple[int, ...] = (256, 256),
        image_features: int = 64,
        action_dim: int = 2,
    ):
        super().__init__()
        self.keys = tuple(keys)
        self.inputs = _Inputs(self.keys, shapes, image_features)
        self.net = mlp(self.inputs.dim, hidden, 2 * action_dim)

    def forward(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std (B, 2) of the Gaussian before the tanh; reads only ``self.keys``."""
        mean, log_std = self.net(self.inputs(obs)).chunk(2, dim=-1)
        return mean, torch.clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Action ``tanh(u)``, ``u ~ N(mean, std)`` (reparameterised) and its log-probability (B,) with the
        tanh correction ``log pi(a) = log N(u) - sum log(1 - tanh(u)^2)``, written stably as
        ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``."""
        mean, log_std = self(obs)
        normal = torch.distributions.Normal(mean, log_std.exp())
        u = normal.rsample()
        logp = normal.log_prob(u) - 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
        return torch.tanh(u), logp.sum(-1)

    def deterministic(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The deterministic action ``tanh(mean)`` (B, 2)."""
        return torch.tanh(self(obs)[0])


class QuantileCritic(nn.Module):
    """Distributional critic: ``N`` quantiles (B, N) of the return at fractions ``(2i-1)/2N``.

    Args:
        keys: observation keys it reads (``("privileged", "proprio")``: no pixels; or the actor's keys, then
            it has its own image encoder). The action (B, 2) is concatenated to them.
    """

    def __init__(
        self,
        keys: tuple[str, ...],
        shapes: dict[str, tuple[int, ...]],
        n_quantiles: int = 32,
        hidden: tuple[int, ...] = (256, 256),
        image_features: int = 64,
        action_dim: int = 2,
    ):
        super().__init__()
        self.keys = tuple(keys)
        self.inputs = _Inputs(self.keys, shapes, image_features)
        self.net = mlp(self.inputs.dim + action_dim, hidden, n_quantiles)

    def forward(self, obs: dict[str, torch.Tensor], action: torch.Tensor) -> torch.Tensor:
        """Quantiles (B, n_quantiles) of the return of ``action`` (B, 2) at the observations ``obs``."""
        return self.net(torch.cat([self.inputs(obs), action], dim=-1))
