"""Make the quick-start sample: a photo with a pixelated face (the synthesiser, 16 px cells).

    python scripts/make_sample.py sample/   ->  sample/original.png, sample/mosaic.png
"""
import sys
from pathlib import Path


from demosaic.images import read_image, write_image
from demosaic.mosaic import MosaicRegion, pixelate


def main(out: Path) -> None:
    import skimage

    photo = read_image(Path(skimage.__file__).parent / "data" / "astronaut.png")
    region = MosaicRegion("ellipse", ((172, 56), (300, 232)), (16, 16))
    mosaic, _ = pixelate(photo, [region])
    out.mkdir(parents=True, exist_ok=True)
    write_image(out / "original.png", photo)
    write_image(out / "mosaic.png", mosaic)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "sample"))
