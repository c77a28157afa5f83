"""Onboard camera: a windshield view rendered cheaply from track geometry.

A top-down texture of the track (grass, run-off, walls, asphalt, white edge lines, red/white kerbs in
corners, start line) is rasterised once per track. A pinhole camera at height ``height_m`` above the
ground, pitched down by ``pitch_rad``, sees the flat ground plane: each image pixel below the horizon
maps to a fixed ground point in the car frame (precomputed). Per step, those points are moved into the
world frame for every car and the texture is sampled for all cars at once with one bilinear
:func:`torch.nn.functional.grid_sample`. Pixels above the horizon show a sky gradient; distant ground
fades into haze.

Frames: car frame x forward, y left (m); world frame as the track file. Images are uint8 RGB,
shape (B, H, W, 3), row 0 at the top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from drift.racing.track import Track

GRASS = (62, 128, 52)
ASPHALT = (92, 92, 98)
WALL = (175, 175, 182)
KERB_RED = (205, 35, 35)
KERB_WHITE = (240, 240, 240)
LINE_WHITE = (235, 235, 235)
SKY_TOP = (95, 150, 225)
SKY_HORIZON = (185, 210, 240)
HAZE = (170, 190, 200)
#: coarse-texture factor for distant pixels
MIP = 4


@dataclass(frozen=True)
class CameraConfig:
    """Camera and texture settings. Lengths are multiplied by ``scale`` (1 = full-size car).

    Attributes:
        width_px, height_px: image size (px).
        fov_rad: horizontal field of view (rad); pixels are square.
        height_m: camera height above ground (m). forward_m: camera ahead of the CG (m).
        pitch_rad: downward pitch (rad).
        max_range_m: ground beyond this distance is not sampled (haze) (m).
        haze_m: distance scale of the haze (m).
        texture_px_m: texture resolution (m per texel); raised automatically to keep the texture
            within ``max_texture_px`` per side.
        kerb_width_m, kerb_length_m: kerb stripe size (m); kerbs drawn where |kappa| > kerb_kappa_per_m.
        line_width_m: white edge line width (m). wall_thickness_m: drawn wall width (m).
        sampling: ``bilinear`` (torch ``grid_sample``) or ``nearest`` (packed-texel gather, faster).
    """

    width_px: int = 64
    height_px: int = 64
    fov_rad: float = 1.4
    height_m: float = 2.0
    forward_m: float = 0.5
    pitch_rad: float = 0.06
    max_range_m: float = 400.0
    haze_m: float = 250.0
    texture_px_m: float = 0.5
    max_texture_px: int = 8192
    kerb_width_m: float = 1.2
    kerb_length_m: float = 4.0
    kerb_kappa_per_m: float = 1.0 / 250.0
    line_width_m: float = 0.5
    wall_thickness_m: float = 1.5
    sampling: str = "bilinear"
    scale: float = 1.0


def _quads(poly_a: np.ndarray, poly_b: np.ndarray) -> np.ndarray:
    """(N, 4, 2) quads between two closed polylines sampled at the same s."""
    a1, b1 = np.roll(poly_a, -1, axis=0), np.roll(poly_b, -1, axis=0)
    return np.stack([poly_a, a1, b1, poly_b], axis=1)


class TrackCamera:
    """Renders onboard camera images for many cars on one track.

    Args:
        track: the :class:`~drift.racing.track.Track`.
        config: :class:`CameraConfig`.
        wall_offset_m: distance of the walls beyond the boundaries (m), as in the simulator.
    """

    def __init__(self, track: Track, config: CameraConfig | None = None, wall_offset_m: float = 2.0):
        self.track = track
        self.config = config or CameraConfig()
        self.wall_offset_m = wall_offset_m
        self._build_texture()
        self._build_rays()

    # ------------------------------------------------------------------ texture
    def _build_texture(self) -> None:
        c, tr = self.config, self.track
        k = c.scale
        wall = c.wall_thickness_m * k
        nrm = tr.normal
        outer_l = tr.left + (self.wall_offset_m + wall) * nrm
        outer_r = tr.right - (self.wall_offset_m + wall) * nrm
        pts = np.vstack([outer_l, outer_r])
        pad = 0.05 * c.max_range_m * k + 20 * k
        lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
        px = c.texture_px_m * k
        px = max(px, float((hi - lo).max()) / c.max_texture_px)
        mip = MIP
        W = int(np.ceil((hi[0] - lo[0]) / px / mip)) * mip
        H = int(np.ceil((hi[1] - lo[1]) / px / mip)) * mip
        hi = lo + np.array([W, H]) * px  # texel grid covers exactly [lo, hi]
        self.origin = lo
        self.px_m = px
        self.tex_size = (W, H)

        rng = np.random.default_rng(0)
        # grass: mowing stripes (10 m) and per-texel noise give motion cues
        xs = lo[0] + (np.arange(W) + 0.5) * px
        stripes = ((np.floor(xs / (10.0 * k)) % 2) * 10).astype(np.int16)[None, :]
        shade = rng.integers(-8, 9, size=(H, W), dtype=np.int16) + stripes  # in [-8, 18]
        img = (np.array(GRASS, dtype=np.int16)[None, None, :] + shade[..., None]).astype(np.uint8)
        pil = Image.fromarray(img, "RGB")
        d = ImageDraw.Draw(pil)

        def to_px(p):
            return np.stack([(p[..., 0] - lo[0]) / px - 0.5, (hi[1] - p[..., 1]) / px - 0.5], axis=-1)

        def draw(quads, colours):
            q = to_px(quads)
            for poly, col in zip(q, colours, strict=False):
                d.polygon([tuple(v) for v in poly], fill=col)

        n = tr.n_points
        # walls
        for sgn, bnd in ((1.0, tr.left), (-1.0, tr.right)):
            inner = bnd + sgn * self.wall_offset_m * nrm
            outer = bnd + sgn * (self.wall_offset_m + wall) * nrm
            draw(_quads(inner, outer), [WALL] * n)
        # asphalt
        draw(_quads(tr.left, tr.right), [ASPHALT] * n)
        # edge lines and kerbs
        lw = c.line_width_m * k
        kw = c.kerb_width_m * k
        kappa_s = np.convolve(
            np.abs(np.concatenate([tr.kappa[-20:], tr.kappa, tr.kappa[:20]])), np.ones(41) / 41, mode="valid"
        )
        in_corner = kappa_s > c.kerb_kappa_per_m / k
        stripe = (np.floor(tr.s / (c.kerb_length_m * k)) % 2).astype(int)
        for sgn, bnd in ((1.0, tr.left), (-1.0, tr.right)):
            width = np.where(in_corner, kw, lw)[:, None]
            inner = bnd - sgn * width * nrm
            cols = [(KERB_RED if stripe[i] else KERB_WHITE) if in_corner[i] else LINE_WHITE for i in range(n)]
            draw(_quads(bnd, inner), cols)
        # start/finish line: a chequered band at s = 0
        i_line = np.arange(0, max(1, int(round(1.0 * k / max(tr.length_m / n, 1e-9)))) + 1)
        p = to_px(
            np.vstack([tr.left[i_line[0]], tr.left[i_line[-1]], tr.right[i_line[-1]], tr.right[i_line[0]]])
        )
        d.polygon([tuple(v) for v in p], fill=LINE_WHITE)

        arr = np.asarray(pil, dtype=np.float32) / 255.0  # (H, W, 3)
        self.texture_rgb = np.asarray(pil)  # uint8 (H, W, 3), row 0 = max y
        self._tex = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]  # (1, 3, H, W)
        rgb = self.texture_rgb.astype(np.uint32)
        self._tex_packed = (rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)).ravel()  # (H*W,) uint32
        # a MIP x coarser copy for distant pixels: fewer cache misses and less aliasing (mipmapping)
        self._tex_far = torch.nn.functional.avg_pool2d(self._tex, MIP).contiguous()

    # ------------------------------------------------------------------ rays
    def _build_rays(self) -> None:
        c = self.config
        k = c.scale
        W, H = c.width_px, c.height_px
        f = (W / 2) / np.tan(c.fov_rad / 2)
        jj, ii = np.meshgrid(np.arange(W), np.arange(H))
        xc = (jj + 0.5 - W / 2) / f  # right
        yc = (ii + 0.5 - H / 2) / f  # down
        fwd, left, up = np.ones_like(xc), -xc, -yc
        th = c.pitch_rad
        fwd2 = fwd * np.cos(th) + up * np.sin(th)
        up2 = up * np.cos(th) - fwd * np.sin(th)
        h = c.height_m * k
        t = np.where(up2 < -1e-9, h / np.maximum(-up2, 1e-9), np.inf)
        gx, gy = fwd2 * t + c.forward_m * k, left * t
        dist = np.hypot(gx, gy)
        ground = np.isfinite(t) & (dist < c.max_range_m * k)
        fog = 1.0 - np.exp(-np.where(ground, dist, 0.0) / (c.haze_m * k))
        # background: sky gradient above the horizon, haze on far ground
        elev = np.clip(np.arctan2(up2, np.hypot(fwd2, left)), 0.0, None) / (c.fov_rad / 2)
        sky = (
            np.array(SKY_HORIZON)[None, None] * (1 - elev[..., None])
            + np.array(SKY_TOP)[None, None] * elev[..., None]
        )
        bg = np.where(
            ground[..., None],
            np.array(HAZE)[None, None] * fog[..., None],
            np.where(np.isfinite(t)[..., None], np.array(HAZE)[None, None], sky),
        )
        alpha = np.where(ground, 1.0 - fog, 0.0)
        self.ground_mask = ground  # (H, W) bool
        self.ground_xy = np.stack([gx, gy], axis=-1)  # (H, W, 2) car-frame ground point (m); inf above
        rows = np.flatnonzero(ground.any(axis=1))
        self._r0 = r0 = int(rows[0]) if len(rows) else H  # first image row that sees the ground
        lower = np.stack([np.where(ground, gx, 0.0)[r0:].ravel(), np.where(ground, gy, 0.0)[r0:].ravel()], 1)
        self._gpts = torch.from_numpy(lower.astype(np.float32))  # (P, 2) ground points of rows >= r0
        # homogeneous ground points [gx, gy, 1]: texture coordinates are one batched matmul
        self._gpts_h = torch.from_numpy(np.column_stack([lower, np.ones(len(lower))]).astype(np.float32))
        self._bg_hwc = torch.from_numpy((bg.reshape(-1, 3) + 0.5).astype(np.float32))  # (H*W, 3)
        # colours in 0..255 with +0.5 so that truncation to uint8 rounds
        self._bg = torch.from_numpy((bg.reshape(-1, 3).T + 0.5).astype(np.float32)).contiguous()  # (3, H*W)
        self._alpha = torch.from_numpy((255.0 * alpha[r0:].ravel()).astype(np.float32))  # (P,)
        # rows whose pixels span more than a coarse texel sideways sample the coarse texture
        d_split = MIP * self.px_m / (c.fov_rad / W)
        dist_row = np.where(ground, np.hypot(gx, gy), np.inf).min(axis=1)
        far_rows = np.flatnonzero((np.arange(H) >= r0) & (dist_row > d_split))
        r1 = int(far_rows[-1]) + 1 if len(far_rows) else r0
        self._p_far = (r1 - r0) * W  # the first _p_far of the P ground pixels use the coarse texture

    def pixel_of(self, x_fwd_m: float, y_left_m: float) -> tuple[int, int]:
        """(row, col) of the image pixel whose ground point is closest to a car-frame point (m)."""
        d = np.hypot(self.ground_xy[..., 0] - x_fwd_m, self.ground_xy[..., 1] - y_left_m)
        d = np.where(self.ground_mask, d, np.inf)
        r, col = np.unravel_index(int(np.argmin(d)), d.shape)
        return int(r), int(col)

    # ------------------------------------------------------------------ render
    def render(self, x, y, psi) -> np.ndarray:
        """Render images for B cars.

        Args:
            x, y: (B,) CG world position (m). psi: (B,) yaw (rad).
        Returns:
            (B, H, W, 3) uint8 RGB images. ``config.sampling`` picks bilinear ``grid_sample`` (with a coarse
            texture for distant rows) or nearest-texel lookup in a packed uint8 texture (faster).
        """
        if self.config.sampling == "nearest":
            return self._render_nearest(x, y, psi)
        with torch.no_grad():
            W, H = self.tex_size
            kx, ky = 2.0 / (W * self.px_m), 2.0 / (H * self.px_m)
            x = np.asarray(x, dtype=np.float64).reshape(-1)
            y = np.asarray(y, dtype=np.float64).reshape(-1)
            psi = np.asarray(psi, dtype=np.float64).reshape(-1)
            B = len(x)
            c, s = np.cos(psi), np.sin(psi)
            # texture coords are affine in the car-frame ground point: [u, v] = base + g @ M
            base = np.stack(
                [(x - self.origin[0]) * kx - 1.0, (self.origin[1] + H * self.px_m - y) * ky - 1.0], 1
            )
            M = np.stack([np.stack([c * kx, -s * ky], 1), np.stack([-s * kx, -c * ky], 1)], 1)  # (B, 2, 2)
            Mh = np.concatenate([M, base[:, None, :]], axis=1).astype(np.float32)  # (B, 3, 2) homogeneous
            grid = torch.matmul(self._gpts_h[None], torch.from_numpy(Mh))  # (B, P, 2)
            cfg = self.config
            HW, off, pf = cfg.height_px * cfg.width_px, self._r0 * cfg.width_px, self._p_far
            out = torch.empty(3, B, HW)
            out[:, :, :off] = self._bg[:, None, :off]
            for tex, a, b in ((self._tex_far, 0, pf), (self._tex, pf, grid.shape[1])):
                if b <= a:
                    continue
                samp = torch.nn.functional.grid_sample(
                    tex, grid[None, :, a:b], mode="bilinear", padding_mode="border", align_corners=False
                )[0]  # (3, B, b - a)
                torch.addcmul(
                    self._bg[:, None, off + a : off + b],
                    samp,
                    self._alpha[None, None, a:b],
                    out=out[:, :, off + a : off + b],
                )
            out8 = out.to(torch.uint8)  # values < 256; truncation rounds (0.5 added in the background)
            img = torch.stack([out8[0], out8[1], out8[2]], dim=-1)  # (B, HW, 3)
            return img.numpy().reshape(B, cfg.height_px, cfg.width_px, 3)

    def _render_nearest(self, x, y, psi) -> np.ndarray:
        with torch.no_grad():
            W, H = self.tex_size
            x = np.asarray(x, dtype=np.float64).reshape(-1)
            y = np.asarray(y, dtype=np.float64).reshape(-1)
            psi = np.asarray(psi, dtype=np.float64).reshape(-1)
            B = len(x)
            c, s = np.cos(psi), np.sin(psi)
            k = 1.0 / self.px_m
            # texel coordinates (col, row) = base + g @ M
            base = np.stack([(x - self.origin[0]) * k, (self.origin[1] + H * self.px_m - y) * k], 1)
            M = np.stack([np.stack([c * k, -s * k], 1), np.stack([-s * k, -c * k], 1)], 1)
            Mh = np.concatenate([M, base[:, None, :]], axis=1).astype(np.float32)
            uv = torch.matmul(self._gpts_h[None], torch.from_numpy(Mh))
            col = uv[..., 0].to(torch.int64).clamp_(0, W - 1)
            row = uv[..., 1].to(torch.int64).clamp_(0, H - 1)
            idx = (row.mul_(W).add_(col)).numpy()
            texel = np.take(self._tex_packed, idx).view(np.uint8).reshape(B, -1, 4)[..., :3]  # (B, P, 3)
            cfg = self.config
            off = self._r0 * cfg.width_px
            out = torch.empty(B, cfg.height_px * cfg.width_px, 3)
            out[:, :off] = self._bg_hwc[None, :off]
            torch.addcmul(
                self._bg_hwc[None, off:],
                torch.from_numpy(texel).to(torch.float32),
                self._alpha[None, :, None] / 255.0,
                out=out[:, off:],
            )
            return out.to(torch.uint8).numpy().reshape(B, cfg.height_px, cfg.width_px, 3)
