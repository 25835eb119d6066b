"""The toy-faces renderer: factors ``(B, NUM_FACTORS)`` → images ``(B, 3, H, W)`` in [-1, 1], batched pure torch.

Every shape is a signed distance field in image coordinates (x right, y down, both in [-1, 1] whatever the
resolution) turned into an anti-aliased coverage ``clamp(0.5 - d / pixel, 0, 1)``, then composited back to front:

    background → neck → hair (back) → face → nose and lower wrinkles (age) → beard → mouth → eye wrinkles (age)
    → eyes → brows → eyeglasses → fringe → light

Because geometry lives in resolution-free coordinates, the same factors draw the same face at 32, 64, 128 or 256
pixels (a 128 render downsampled 2× matches the 64 render to within anti-aliasing). There is no randomness:
the output is a deterministic function of the factors, identical for any batch size.

Attributes are drawn boldly enough to survive 64×64 (and a generator distilled from these renders), each a
smooth function of its intensity whose visible change is concentrated around 0.5:

* eyeglasses — thick navy frames, bridge and temples plus a faint lens tint; opacity and size ramp up;
* beard — a full beard and moustache in the hair colour (greyed by age), opacity ramps up;
* smile — the mouth curve bends from a slight frown to a grin that opens to show teeth;
* hair_color — hair (and beard) from dark brown to blond;
* age — hair (and beard) partly grey, plus nasolabial folds, crow's feet and a forehead line.
"""

from __future__ import annotations

import torch

from latentedit_toyfaces.factors import INDEX, check_factors

# Colour palettes (RGB in [0, 1]); a factor walks along a piecewise-linear path, never looping back.
_SKIN = ((0.98, 0.86, 0.76), (0.86, 0.66, 0.50), (0.62, 0.42, 0.28), (0.38, 0.24, 0.15))
_IRIS = ((0.42, 0.24, 0.10), (0.15, 0.40, 0.90), (0.12, 0.62, 0.25))
_BACKGROUND = ((0.16, 0.52, 0.52), (0.22, 0.35, 0.70), (0.45, 0.22, 0.60), (0.70, 0.25, 0.40),
               (0.62, 0.55, 0.18), (0.30, 0.55, 0.20))
_HAIR_DARK = (0.13, 0.08, 0.05)
_HAIR_BLOND = (0.95, 0.80, 0.40)
_GREY = (0.80, 0.80, 0.82)
_BROW = (0.14, 0.09, 0.07)
_FRAME = (0.08, 0.08, 0.38)
_LIP = (0.78, 0.16, 0.18)
_MOUTH_INSIDE = (0.35, 0.04, 0.07)
_TEETH = (0.97, 0.97, 0.95)
_EYE_WHITE = (0.97, 0.97, 0.97)
_PUPIL = (0.03, 0.03, 0.04)


class RenderError(ValueError):
    """Bad arguments to ``render``."""


def _path(t: torch.Tensor, colors) -> torch.Tensor:
    """Piecewise-linear colour path: ``t`` (B,) in [0, 1] → (B, 3)."""
    c = torch.tensor(colors, dtype=t.dtype, device=t.device)
    pos = t.clamp(0, 1) * (len(colors) - 1)
    i0 = pos.floor().clamp(max=len(colors) - 2).long()
    w = (pos - i0.to(t.dtype))[:, None]
    return c[i0] * (1 - w) + c[i0 + 1] * w


def _const(rgb, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rgb, dtype=like.dtype, device=like.device).expand(like.shape[0], 3)


def _ramp(v: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Smoothstep from ``lo`` to ``hi`` (C1, monotone): the visible part of an attribute's intensity."""
    t = ((v - lo) / (hi - lo)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _ellipse(x, y, rx, ry):
    """Signed distance (approximate, exact on the boundary's axes) to an origin-centred ellipse."""
    k = torch.sqrt((x / rx).square_() + (y / ry).square_())
    return (k - 1).mul_(torch.minimum(rx, ry))


def _segment(x, y, ax, ay, bx, by):
    """Distance to the segment a→b (all arguments broadcastable; a, b are (B, 1, 1) or floats)."""
    dx, dy = bx - ax, by - ay
    inv = 1.0 / (dx * dx + dy * dy + 1e-12)
    px, py = x - ax, y - ay
    h = (px * (dx * inv) + py * (dy * inv)).clamp_(0, 1)
    return torch.sqrt((px - h * dx).square_() + (py - h * dy).square_())


def _box(x, y, hx, hy, r):
    """Signed distance to a rounded box with half-sizes (hx, hy) and corner radius r, centred at the origin."""
    qx, qy = x.abs() - (hx - r), y.abs() - (hy - r)
    outside = torch.sqrt(qx.clamp(min=0).square_() + qy.clamp(min=0).square_())
    return outside + torch.maximum(qx, qy).clamp_(max=0) - r


class _Canvas:
    """The image being composited (B, 3, H, W) in [0, 1], the pose, and windows into it.

    A window is a band of rows and columns (in image coordinates) that is guaranteed to contain a group of
    shapes for every allowed pose; shapes are evaluated only there, which is most of the renderer's speed.
    """

    def __init__(self, img, axis, sx, sy, cos, sin, cy):
        self.img, self.axis = img, axis
        self.res = axis.shape[0]
        self.inv_pixel = self.res / 2.0
        self.sx, self.sy, self.cos, self.sin, self.cy = sx, sy, cos, sin, cy

    def window(self, x0: float, x1: float, y0: float, y1: float):
        """Head-frame coordinates ``(x, y)`` (B, h, w) of the pixels in an image-coordinate box, and the box."""
        lo = lambda v: max(0, min(self.res, int((v + 1) * self.inv_pixel)))
        hi = lambda v: max(0, min(self.res, -int(-(v + 1) * self.inv_pixel)))
        rows, cols = slice(lo(y0), hi(y1)), slice(lo(x0), hi(x1))
        ux = self.axis[None, None, cols] - self.sx
        uy = self.axis[None, rows, None] - (self.sy + self.cy)
        x = self.cos * ux + self.sin * uy
        y = self.cos * uy - self.sin * ux
        return x, y, (rows, cols)

    def cover(self, d: torch.Tensor) -> torch.Tensor:
        """Signed distance (B, h, w) → anti-aliased coverage in [0, 1] (consumes ``d``)."""
        return d.mul_(-self.inv_pixel).add_(0.5).clamp_(0, 1)

    def paint(self, box, alpha: torch.Tensor, color: torch.Tensor) -> None:
        """Composite ``color`` (B, 3) with ``alpha`` (B, h, w) over the window ``box`` of the image."""
        rows, cols = box
        view = self.img[:, :, rows, cols]  # a strided view: composited in place
        view.lerp_(color[:, :, None, None].expand_as(view), alpha[:, None])


# Windows (image coordinates x0, x1, y0, y1) that hold each group of shapes for every pose (shift ≤ 0.06/0.05,
# tilt ≤ 0.16 rad) and every identity; checked by tests/toyfaces/test_toyfaces_renderer.py against full-image rendering.
_WIN_HEAD = (-0.80, 0.80, -0.82, 0.80)
_WIN_NECK = (-0.45, 0.45, 0.15, 1.0)
_WIN_EYES = (-0.64, 0.64, -0.46, 0.25)
_WIN_LOWER = (-0.66, 0.66, -0.22, 0.80)
_PIXELS_PER_PASS = 64 * 64 * 64  # images per pass × pixels: keeps temporaries in cache on a CPU


def render(factors: torch.Tensor, resolution: int = 64) -> torch.Tensor:
    """Draw faces. ``factors`` (B, NUM_FACTORS) in [0, 1] → images (B, 3, resolution, resolution) in [-1, 1].

    Runs on ``factors``' device and dtype (float32 recommended); deterministic and independent of the batch
    size; no gradients (runs under ``torch.no_grad()``). ``resolution`` is any int ≥ 8 (64 is the default).
    """
    check_factors(factors)
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise RenderError(f"resolution: expected an int >= 8 (e.g. 64); got {resolution!r}")
    with torch.no_grad():
        f = factors.detach().clamp(0, 1)
        chunk = max(1, _PIXELS_PER_PASS // (resolution * resolution))
        if f.shape[0] <= chunk or f.device.type != "cpu":
            return _render(f, resolution)
        return torch.cat([_render(c, resolution) for c in f.split(chunk)])


def _render(f: torch.Tensor, resolution: int) -> torch.Tensor:
    B, dev, dt = f.shape[0], f.device, f.dtype
    col = {name: f[:, i] for name, i in INDEX.items()}
    p = {name: v[:, None, None] for name, v in col.items()}  # (B, 1, 1) for broadcasting over pixels

    axis = (torch.arange(resolution, device=dev, dtype=dt) + 0.5) * (2.0 / resolution) - 1.0
    bg = _path(col["background"], _BACKGROUND)
    shade = 1.0 - 0.09 * (axis + 1)  # darker towards the bottom
    img = (bg[:, :, None, None] * shade[None, None, :, None]).expand(B, 3, resolution, resolution).contiguous()
    ang = ((col["tilt"].double() - 0.5) * 0.32)[:, None, None]  # radians, about ±9 degrees
    cv = _Canvas(img, axis, (p["shift_x"] - 0.5) * 0.12, (p["shift_y"] - 0.5) * 0.10,
                 torch.cos(ang).to(dt), torch.sin(ang).to(dt), 0.02)

    # Identity geometry (head frame: origin at the face centre, x right, y down).
    rx = 0.36 + 0.12 * p["face_width"]
    ry = 0.46 + 0.10 * p["face_length"]
    jaw_k = 0.80 * p["jaw"]
    skin = _path(col["skin_tone"], _SKIN)
    hs = p["hair_style"]
    ex = 0.14 + 0.07 * p["eye_spacing"]
    ey = -0.08
    re = 0.05 + 0.035 * p["eye_size"]
    nose_y, nose_rx, nose_ry = 0.07, 0.025 + 0.04 * p["nose_size"], 0.04 + 0.07 * p["nose_size"]
    my = 0.24 + 0.06 * p["face_length"]
    mw = 0.08 + 0.10 * p["mouth_width"]

    # Hair colour: dark → blond, then partly grey with age; the beard shares it, a little darker.
    age_vis = _ramp(col["age"], 0.2, 0.8)
    hair = torch.lerp(_const(_HAIR_DARK, f), _const(_HAIR_BLOND, f), _ramp(col["hair_color"], 0.2, 0.8)[:, None])
    hair = torch.lerp(hair, _const(_GREY, f), 0.55 * age_vis[:, None])

    # Neck.
    x, y, box = cv.window(*_WIN_NECK)
    cv.paint(box, cv.cover(_box(x, y - (ry + 0.30), 0.13 + 0.05 * p["face_width"], 0.42, 0.04)), skin * 0.82)

    # Hair (back): a cap around the top of the head reaching down to the jaw for long styles; then the face.
    x, y, box = cv.window(*_WIN_HEAD)
    d_back = torch.maximum(_ellipse(x, y + 0.03, rx + 0.06 + 0.04 * hs, ry + 0.07), y - ry * (hs * 1.05 - 0.30))
    cv.paint(box, cv.cover(d_back), hair)
    yl = (y / ry).clamp_(min=0)
    narrowing = 1 - jaw_k * yl.square_()
    cv.paint(box, cv.cover(_ellipse(x / narrowing, y, rx, ry)), skin)
    head = (x, y, box)

    # Lower face: age folds, nose, beard, mouth.
    x, y, box = cv.window(*_WIN_LOWER)
    xa = x.abs()
    age_a = age_vis[:, None, None]
    d_fold = _segment(xa, y, nose_rx + 0.05, nose_y - 0.02, mw + 0.05, my + 0.03)
    cv.paint(box, cv.cover(d_fold.sub_(0.014)).mul_(age_a), skin * 0.55)
    cv.paint(box, cv.cover(_ellipse(x, y - nose_y, nose_rx, nose_ry)), skin * 0.70)
    yl = (y / ry).clamp_(min=0)
    narrowing = 1 - jaw_k * yl.square_()
    line = (nose_y + nose_ry + 0.01) - 0.10 * (x / rx).square_()
    d_beard = torch.maximum(_ellipse(x / narrowing, y, rx + 0.015, ry + 0.04), line.sub_(y))
    cv.paint(box, cv.cover(d_beard).mul_(_ramp(col["beard"], 0.2, 0.8)[:, None, None]), hair * 0.85)

    bend = (-0.35 + 1.35 * p["smile"]) * 0.075
    opening = 0.085 * _ramp(col["smile"], 0.35, 0.9)[:, None, None]
    t2 = (x / mw).clamp_(-1, 1).square_()
    curve = my - bend * t2
    d_lip = torch.minimum(_segment(xa, y, mw, my - bend, mw * 0.5, my - bend * 0.25),
                          _segment(xa, y, mw * 0.5, my - bend * 0.25, 0.0, my))
    cv.paint(box, cv.cover(d_lip.sub_(0.022)), _const(_LIP, f))
    lower = curve + opening * (1 - t2)
    d_open = torch.maximum(torch.maximum(curve - y, y - lower), xa - mw)
    d_teeth = torch.maximum(d_open, y - (curve + opening * 0.45))
    cv.paint(box, cv.cover(d_open), _const(_MOUTH_INSIDE, f))
    cv.paint(box, cv.cover(d_teeth), _const(_TEETH, f))

    # Eye band: crow's feet and forehead line (age), eyes, brows, eyeglasses.
    x, y, box = cv.window(*_WIN_EYES)
    xe, ye = x.abs() - ex, y - ey
    c0 = re * 1.45 + 0.02
    d_age = torch.minimum(_segment(xe, ye, c0, -0.014, c0 + 0.06, -0.056),
                          _segment(xe, ye, c0, 0.014, c0 + 0.06, 0.056))
    d_age = torch.minimum(d_age, _segment(x, y, -0.16, ey - re - 0.13, 0.16, ey - re - 0.13))
    cv.paint(box, cv.cover(d_age.sub_(0.014)).mul_(age_a), skin * 0.55)
    cv.paint(box, cv.cover(_ellipse(xe, ye, re * 1.35, re)), _const(_EYE_WHITE, f))
    r_eye = torch.sqrt(xe * xe + ye * ye)
    cv.paint(box, cv.cover(r_eye - re * 0.85), _path(col["iris_color"], _IRIS))
    cv.paint(box, cv.cover(r_eye - re * 0.3), _const(_PUPIL, f))
    bh = 0.012 + 0.020 * p["brow_thickness"]
    cv.paint(box, cv.cover(_box(xe, y - (ey - re - 0.03 - bh), 0.075, bh, bh * 0.9)), _const(_BROW, f))

    g_vis = _ramp(col["eyeglasses"], 0.2, 0.8)[:, None, None]
    rg = (0.05 + re * 0.9) * (0.85 + 0.15 * g_vis)
    half = 0.026
    d_frame = torch.minimum((r_eye - rg).abs_().sub_(half),
                            _segment(xe, ye, -ex, -0.01, -rg, -0.01).sub_(half * 0.8))
    d_frame = torch.minimum(d_frame, _segment(xe, ye, rg, -0.01, rx - ex + 0.02, -0.03).sub_(half * 0.8))
    cv.paint(box, cv.cover(r_eye - rg).mul_(0.18 * g_vis), _const((0.75, 0.85, 0.95), f))
    cv.paint(box, cv.cover(d_frame).mul_(g_vis), _const(_FRAME, f))

    # Fringe: hair over the top of the face, lower and straighter for long styles.
    x, y, box = head
    hairline = 0.06 * ry * (x / rx).square_() - ry * (0.70 - 0.08 * hs)
    cv.paint(box, cv.cover(torch.maximum(_ellipse(x, y, rx + 0.02, ry + 0.02), y - hairline)), hair)

    # Light: a left/right brightness gradient over the whole image.
    light = 1.0 + 0.5 * (p["light"] - 0.5) * axis[None, None, :]
    return cv.img.mul_(light[:, None]).clamp_(0, 1).mul_(2).sub_(1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [-1, 1] → uint8 (B, H, W, 3) for saving."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def contact_sheet(images: torch.Tensor, columns: int = 8, pad: int = 2) -> torch.Tensor:
    """Tile images (B, 3, H, W) in [-1, 1] into one uint8 (H', W', 3) grid with white gaps."""
    b, c, h, w = images.shape
    rows = (b + columns - 1) // columns
    cols = min(columns, b)
    sheet = torch.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=torch.uint8)
    u8 = to_uint8(images)
    for i in range(b):
        r, q = divmod(i, columns)
        sheet[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = u8[i]
    return sheet
