"""Frames decoded to their planes and converted to rgb24 when looked at (`demosaic.rgbframes`),
against ffmpeg's own rgb24 decoding of the same clips (`FrameReader` without `lazy`)."""
import numpy as np
import pytest

from conftest import ffmpeg
from demosaic.planes import plane_format
from demosaic.probe import probe
from demosaic.rgbframes import LazyFrame, pixels
from demosaic.video import FrameReader


@pytest.mark.parametrize("pix_fmt, extra", [("yuv420p", ["-colorspace", "bt709"]), ("yuv420p10le", []),
                                            ("yuvj420p", []), ("yuv422p", [])])
def test_lazy_frames__any_order_and_prefetched__are_the_rgb_decoders_frames(tmp_path, pix_fmt, extra):
    clip = tmp_path / "clip.mkv"
    codec = ["-c:v", "mjpeg"] if pix_fmt == "yuvj420p" else ["-c:v", "libx264", "-crf", "20"]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-frames:v", "24", *codec, "-pix_fmt", pix_fmt,
           *extra, str(clip))
    info = probe(clip)
    fmt = plane_format(info.pix_fmt)
    reader = FrameReader(clip, info, planes=fmt)
    try:
        decoded = [rgb for rgb, _ in reader]
    finally:
        reader.close()
    reader = FrameReader(clip, info, planes=fmt, lazy=True)
    try:
        frames = []
        for n, (frame, own) in enumerate(reader):
            assert isinstance(frame, LazyFrame) and frame.planes is own and frame.shape == decoded[n].shape
            if n % 3 == 0:
                frame.prefetch()  # as the decoding thread does for frames that will be looked at
            frames.append(frame)
        # In order, then back and forth (the keyframe detector's bisection), some twice.
        order = list(range(0, 12)) + [23, 17, 20, 13, 22, 14, 19, 15, 21, 16, 18, 17, 5]
        for n in order:
            np.testing.assert_array_equal(pixels(frames[n]), decoded[n], err_msg=f"frame {n}")
        assert pixels(frames[5]) is pixels(frames[5])  # converted once, then kept
    finally:
        reader.close()
    assert len(frames) == len(decoded) == 24


def test_pixels__an_array_or_nothing__as_it_is():
    a = np.zeros((2, 2, 3), np.uint8)
    assert pixels(a) is a and pixels(None) is None


def _clip(path, frames) -> None:
    import subprocess

    height, width = frames[0].shape[:2]
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path)],
                   input=b"".join(f.tobytes() for f in frames), check=True)


def _pan(rng, count: int, height: int = 96, width: int = 128) -> list[np.ndarray]:
    from conftest import smooth_image

    still = smooth_image(rng, height + count, width + count)
    return [np.ascontiguousarray(still[n // 2:n // 2 + height, n:n + width]) for n in range(count)]  # a slow pan


def _planes_md5(path) -> list[str]:
    import subprocess

    lines = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-pix_fmt", "yuv420p",
                            "-f", "framemd5", "-"], capture_output=True, check=True, text=True).stdout.splitlines()
    return [line.split(",")[-1].strip() for line in lines if not line.startswith("#")]


def _run(engine, clip, out):
    from demosaic.video import EncodeOptions, FrameWriter

    info = probe(clip)
    writer = FrameWriter(out, info, EncodeOptions(lossless=True), ".mkv")
    reader = engine.reader(clip, info, writer)
    result = engine.process(reader, writer)
    writer.finish()
    return result, reader


def test_video__clip_without_a_mosaic__only_keyframes_converted_and_the_planes_written_as_decoded(tmp_path, rng):
    from demosaic.detect import DetectorConfig
    from pipelines.video import Engine

    clip, out = tmp_path / "clean.mkv", tmp_path / "out.mkv"
    _clip(clip, _pan(rng, 40))
    result, reader = _run(Engine(None, "guided", DetectorConfig()), clip, out)
    assert result["frames"] == 40 and result["frames_restored"] == 0
    assert result["frames_detected"] == 6  # frames 0, 8, 16, 24, 32 and the last
    # Each keyframe converted, and at most once more where it was the last frame sent
    # (`rgbframes`: ffmpeg holds a frame back until the next comes in); the rest never.
    assert result["frames_to_rgb"] == reader.converter.sent
    assert result["frames_detected"] <= result["frames_to_rgb"] <= 2 * result["frames_detected"]
    assert _planes_md5(out) == _planes_md5(clip)  # every frame written as decoded


@pytest.mark.parametrize("mode", ["guided", "inpaint"])
def test_video__mosaic_from_mid_clip__restored_where_it_is_and_the_frames_before_written_as_decoded(tmp_path, rng,
                                                                                                    mode):
    """Batches that mix frames still their planes (nothing to restore) with converted ones."""
    from demosaic.detect import DetectorConfig
    from demosaic.mosaic import MosaicRegion, pixelate
    from pipelines.video import Engine

    frames = _pan(rng, 36)
    box = MosaicRegion("rect", ((32, 16), (96, 80)), (16, 16), align="region")
    frames[13:] = [pixelate(f, [box])[0] for f in frames[13:]]
    clip, out = tmp_path / "clip.mkv", tmp_path / "out.mkv"
    _clip(clip, frames)
    result, _ = _run(Engine(None, mode, DetectorConfig()), clip, out)
    assert result["frames"] == 36 and 0 < result["frames_restored"] <= 36 - 13
    got, want = _planes_md5(out), _planes_md5(clip)
    assert got[:11] == want[:11]  # before the mosaic (and the vote's reach): as decoded
    assert got[20:] != want[20:]


def _lazy_reader(tmp_path, count: int) -> FrameReader:
    """A lazy reader of `count` frames of ffmpeg's testsrc2, coded by libx264."""
    clip = tmp_path / "clip.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", str(count), "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(clip))
    info = probe(clip)
    return FrameReader(clip, info, planes=plane_format(info.pix_fmt), lazy=True)


def test_converter__ffmpeg_gone__an_error_not_a_hang(tmp_path):
    from demosaic.errors import ExternalToolError

    reader = _lazy_reader(tmp_path, 4)
    try:
        frames = [f for f, _ in reader]
        for f in frames[:3]:
            f.prefetch()  # sent: their results are waited for, not sent again
        reader.converter.proc.kill()
        reader.converter.proc.wait()
        with pytest.raises(ExternalToolError):
            pixels(frames[0])
        with pytest.raises(ExternalToolError):
            pixels(frames[3])
    finally:
        reader.close()


def test_lazy_frames__asked_for_in_order__each_converted_once(tmp_path):
    """The frame decoded next moves ffmpeg on (`RgbConverter.wait`), not a thrown-away copy."""
    reader = _lazy_reader(tmp_path, 12)
    try:
        frames = [f for f, _ in reader]
        for f in frames[:10]:
            pixels(f)
        # Ten and the frame after the tenth, a few copies more where ffmpeg ran two behind
        # under load; a copy after each would make 20.
        assert 11 <= reader.rgb_frames <= 15
    finally:
        reader.close()
