import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth colour fields, edges, and some texture."""
    import cv2

    small = rng.uniform(0, 255, (max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(3, max(4, min(height, width) // 3))), c, -1)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """Twelve small photo-like PNGs made here (nothing fetched)."""
    import cv2

    folder = tmp_path_factory.mktemp("photos")
    gen = np.random.default_rng(7)
    for i in range(12):
        cv2.imwrite(str(folder / f"img{i:02d}.png"), smooth_image(gen, 80, 96))
    return folder
