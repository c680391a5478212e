"""WCAG 2 contrast (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio): text is readable on a
projector when its contrast ratio with the background is at least 4.5:1 (level AA). Two
formulas of a few lines each; no colour library is needed for them."""
from __future__ import annotations

AA_TEXT = 4.5

RGB = tuple[float, float, float]   # 0–255 each


def _channel(value: float) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: RGB) -> float:
    r, g, b = (_channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """From 1 (the same) to 21 (black on white); the order does not matter."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable(color: RGB, background: RGB, ratio: float = AA_TEXT) -> tuple[int, int, int]:
    """``color`` as text on ``background``: itself if its contrast is at least ``ratio``, else
    mixed towards black (on a light background) or white (on a dark one) just enough, keeping
    its hue: the amber cue and the token letters of the recurrent view stay amber and their
    colours on white."""
    target = (0.0, 0.0, 0.0) if relative_luminance(background) > 0.18 else (255.0, 255.0, 255.0)
    for step in range(21):
        t = step / 20
        mixed = tuple(round(c + (g - c) * t) for c, g in zip(color[:3], target))
        if contrast_ratio(mixed, background) >= ratio:
            return mixed
    return tuple(int(g) for g in target)
