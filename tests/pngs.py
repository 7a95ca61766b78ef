"""Checks that a file is a PNG a person would see something in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image  # matplotlib's own dependency, so always installed with zoo

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_size: tuple[int, int] = (100, 100)) -> tuple[int, int]:
    """Assert ``path`` is a valid, non-blank PNG of at least ``min_size`` pixels; returns (width, height).

    Non-blank: not one colour, and at least 1% of its pixels differ from its most common colour
    (the background), so a figure whose axes stayed empty fails as well as a white file.
    """
    path = Path(path)
    assert path.is_file(), f"{path} is missing"
    assert path.read_bytes()[:8] == SIGNATURE, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()  # checks the chunks' CRCs
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint32).reshape(-1, 3)
        size = image.size
    assert size[0] >= min_size[0] and size[1] >= min_size[1], f"{path}: only {size[0]}x{size[1]} pixels"
    colours = rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]  # one integer per colour: fast to count
    counts = np.bincount(colours)
    assert np.count_nonzero(counts) > 1, f"{path} is a single colour"
    background_share = counts.max() / len(colours)
    assert background_share < 0.99, f"{path} is {background_share:.1%} one colour: blank"
    return size
