"""Animations: frames (height, width, 3 uint8 pictures) as a GIF, written atomically (Pillow, which
matplotlib brings, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nngraph.atomic import atomic_write
from nngraph.errors import DataError

FRAME_MS = 40  # 25 frames a second


def write_gif(path: str | Path, frames: list[np.ndarray], shrink: int = 2) -> Path:
    """`frames` as a looping GIF at `path`, each picture `shrink` times smaller on each side."""
    from PIL import Image

    if not frames:
        raise DataError("there is no frame to write", None, "play at least one step")
    pictures = [Image.fromarray(np.ascontiguousarray(f[::shrink, ::shrink])) for f in frames]
    atomic_write(path, lambda f: pictures[0].save(f, format="GIF", save_all=True, append_images=pictures[1:],
                                                  duration=FRAME_MS, loop=0))
    return Path(path)
