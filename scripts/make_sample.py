"""Make the quick-start samples.

    python scripts/make_sample.py sample/
      -> sample/original.png, sample/mosaic.png: a photo with a pixelated face (the synthesiser, 16 px cells)
      -> sample/clip.mp4: 3 s of opencv-doc's vtest.avi with a patch pixelated by ffmpeg's own
         `pixelize` filter (16 px cells), H.264 CRF 18, and a sine-tone audio track
"""
import subprocess
import sys
from pathlib import Path

VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


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
    graph = "[0:v]split[a][b];[b]crop=192:160:288:192,pixelize=width=16:height=16[p];[a][p]overlay=288:192[v]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-t", "3", "-i", VTEST, "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3", "-filter_complex", graph, "-map", "[v]", "-map", "1:a",
                    "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(out / "clip.mp4")], check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "sample"))
