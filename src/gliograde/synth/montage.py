"""Montage of example slices per grade (like the study's Figure 1): FLAIR with the mask outline, and T1ce.

>>> import numpy as np
>>> tile = outline(np.zeros((8, 8), np.uint8), np.ones((8, 8), bool))
>>> tile.shape, tile.dtype.name
((8, 8, 3), 'uint8')
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from scipy import ndimage

OUTLINE_RGB = (255, 40, 40)


def outline(grey: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """(H, W) uint8 grey image -> (H, W, 3) uint8 RGB with the mask's border drawn in red."""
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    border = mask & ~ndimage.binary_erosion(mask)
    rgb[border] = OUTLINE_RGB
    return rgb


class MontageCollector:
    """Keep the middle slice of the first ``per_grade`` patients of each grade and draw them in a grid.

    Rows are WHO grades 2, 3, 4; each patient gives two tiles: FLAIR with the mask outline, then T1ce.
    """

    def __init__(self, *, per_grade: int = 3) -> None:
        self.per_grade = per_grade
        self.examples_: dict[int, list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]] = {2: [], 3: [], 4: []}

    def add(self, grade: int, image: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]) -> None:
        """Remember one patient's middle slice ((H, W, 3) uint8 and (H, W) bool) if its grade row is not full."""
        row = self.examples_[grade]
        if len(row) < self.per_grade:
            row.append((image.copy(), mask.copy()))

    def render(self) -> npt.NDArray[np.uint8]:
        """(rows * tile, cols * tile, 3) uint8 montage; empty cells stay black."""
        tile, head = 256, 22
        grid = np.zeros((3 * (tile + head), 2 * self.per_grade * tile, 3), np.uint8)
        for r, grade in enumerate((2, 3, 4)):
            for p, (img, mask) in enumerate(self.examples_[grade]):
                y = r * (tile + head) + head
                grid[y : y + tile, 2 * p * tile : (2 * p + 1) * tile] = outline(img[..., 1], mask)
                grid[y : y + tile, (2 * p + 1) * tile : (2 * p + 2) * tile] = np.repeat(img[..., 2:3], 3, axis=-1)
        pil = Image.fromarray(grid)
        draw = ImageDraw.Draw(pil)
        for r, grade in enumerate((2, 3, 4)):
            for p in range(len(self.examples_[grade])):
                y = r * (tile + head) + 4
                draw.text((2 * p * tile + 6, y), f"WHO grade {grade}: FLAIR + mask", fill=(255, 255, 255))
                draw.text(((2 * p + 1) * tile + 6, y), f"WHO grade {grade}: T1 post-contrast", fill=(255, 255, 255))
        return np.asarray(pil)

    def save(self, path: Path) -> Path:
        """Write the montage PNG and return its path."""
        Image.fromarray(self.render()).save(path)
        return path
