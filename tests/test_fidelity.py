"""Everything outside the mosaic leaves as it came in: timing, streams and their properties,
rotation, field coding. Each input is made by ffmpeg; each output is checked with ffprobe."""
import subprocess

import pytest
from click.testing import CliRunner

from conftest import ffmpeg
from cli import main
from demosaic.errors import ExternalToolError, InputError, cause_line
from demosaic.images import check_writable
from demosaic.probe import probe

pytestmark = pytest.mark.slow
FRAME = 0.04  # one frame at 25 fps: the tolerance on a stream's start


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def assert_kept(out: dict, src: dict):
    assert out["streams"] == src["streams"]
    assert out["offsets"] == pytest.approx(src["offsets"], abs=FRAME)
    assert (out["rotation"], out["chapters"], out["subtitle_text"]) == (src["rotation"], src["chapters"],
                                                                          src["subtitle_text"])


@pytest.mark.parametrize("suffix, mode", [(".mp4", "guided"), (".mkv", "passthrough")])
def test_video__start_offset_streams_titles_dispositions_chapters_rotation_kept(rich_clips, stream_properties, tmp_path,
                                                                                 suffix, mode):
    src, out = rich_clips / f"rich{suffix}", tmp_path / f"out{suffix}"
    result = run("video", src, out, *(["--passthrough"] if mode == "passthrough" else []))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    kept, before = stream_properties(out), stream_properties(src)
    assert_kept(kept, before)
    assert before["offsets"][0] >= 0.5 and before["streams"][2][3:] in ((None, "fre"), ("Commentary", "fre"))


def test_video__rotated_mp4_into_mkv__warned_in_one_line_everything_else_kept(rich_clips, stream_properties, tmp_path):
    result = run("video", rich_clips / "rich.mp4", tmp_path / "out.mkv", "--passthrough")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "rotation 90" in warnings[0]
    kept = stream_properties(tmp_path / "out.mkv")
    assert kept["rotation"] == [] and kept["chapters"] == ["One", "Two"] and kept["subtitle_text"] == ["hello there"]
    assert [s[4] for s in kept["streams"][1:4]] == ["eng", "fre", "ger"]  # Matroska leaves "und" unwritten
    assert kept["offsets"][:4] == pytest.approx([0.5, 0, 0, 0], abs=FRAME)


def test_batch__segments__streams_and_timing_kept(rich_clips, stream_properties, tmp_path):
    result = run("batch", rich_clips / "rich.mp4", "--out-dir", tmp_path, "--passthrough", "--segment-frames", "20")
    assert result.exit_code == 0, result.output
    assert_kept(stream_properties(tmp_path / "rich.mp4"), stream_properties(rich_clips / "rich.mp4"))


def test_video__transport_stream__offset_between_video_and_audio_kept(tmp_path):
    src = tmp_path / "in.ts"  # mpegts starts its clock at 1.4 s; the audio leads the video by a few ms
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
           "-c:v", "libx264", "-c:a", "mp2", "-f", "mpegts", src)
    result = run("video", src, tmp_path / "out.mp4", "--passthrough")
    assert result.exit_code == 0, result.output
    a, b = probe(src), probe(tmp_path / "out.mp4")
    lead = [s.start_time - a.file_start for s in a.streams]
    assert lead[0] > 0.005  # the case is real: the video starts after the audio
    assert [s.start_time - b.file_start for s in b.streams] == pytest.approx(lead, abs=FRAME / 4)


@pytest.mark.parametrize("suffix, order", [(".mp4", "tt"), (".mp4", "bb"), (".mkv", "tb")])
def test_video__interlaced__field_order_and_field_coding_kept(tmp_path, suffix, order):
    src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    first = "tff" if order[0] == "t" else "bff"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-c:v", "libx264", "-flags", "+ildct+ilme",
           "-x264-params", f"{first}=1", "-field_order", order, src)
    assert probe(src).field_order == order
    result = run("video", src, out, "--passthrough")
    assert result.exit_code == 0, result.output
    assert probe(out).field_order == order
    flags = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=interlaced_frame", "-of", "csv=p=0",
                            str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert flags and all(f.strip(",") == "1" for f in flags)


def test_video__destination_not_writable__exit_2_before_any_work(rich_clips, tmp_path):
    result = run("video", rich_clips / "rich.mp4", "/proc/out.mp4", "--passthrough")
    assert result.exit_code == 2 and "cannot write here" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_check_writable__too_little_space__input_error(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    with pytest.raises(InputError, match="5 MB free, about 20 MB needed"):
        check_writable(tmp_path, needed=20 * 10**6)
    check_writable(tmp_path, needed=10**6)
    assert list(tmp_path.iterdir()) == []  # the trial file is gone


def test_cause_line__ffmpegs_generic_closing_lines_skipped():
    stderr = ("[matroska @ 0x5623b283ea40] Subtitle codec 94213 is not supported.\n"
              "Could not write header for output file #0 (incorrect codec parameters ?): Function not implemented\n"
              "Error initializing output stream 0:1 -- \n\n")
    assert cause_line(stderr) == "[matroska] Subtitle codec 94213 is not supported."
    assert str(ExternalToolError("ffmpeg could not write the output", stderr)) == (
        "ffmpeg could not write the output: [matroska] Subtitle codec 94213 is not supported.")
    assert cause_line("Conversion failed!\n") == "Conversion failed!"  # nothing better: the line itself
    assert cause_line("") == ""


def test_video__12_bit__auto_keeps_it_with_libx265_a_named_encoder_that_cannot_is_exit_2(tmp_path):
    """12-bit 4:2:0 (FFV1 in Matroska): `--codec auto` (H.264 for such input) falls back to
    libx265, which writes 12-bit; `--codec libx264` cannot, and says so before any work."""
    src = tmp_path / "in.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-c:v", "ffv1",
           "-pix_fmt", "yuv420p12le", src)
    result = run("video", src, tmp_path / "auto.mp4", "--passthrough")
    assert result.exit_code == 0, result.output
    out = probe(tmp_path / "auto.mp4")
    assert (out.codec, out.pix_fmt) == ("hevc", "yuv420p12le") and "warning" not in result.output
    result = run("video", src, tmp_path / "x264.mp4", "--passthrough", "--codec", "libx264")
    assert result.exit_code == 2 and not (tmp_path / "x264.mp4").exists()
    assert len(result.output.strip().splitlines()) == 1 and "libx264 cannot write yuv420p12le" in result.output
    result = run("video", src, tmp_path / "lossless.mp4", "--passthrough", "--lossless")
    assert result.exit_code == 2 and "a lossless .mkv (FFV1) can" in result.output


@pytest.mark.parametrize("encoder, pix_fmt, codec", [("libx265", "yuv420p10le", "hevc"), ("libx264", "yuv422p", "h264")])
def test_video__codec_auto__same_codec_depth_and_chroma(tmp_path, encoder, pix_fmt, codec):
    src = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-c:v", encoder, "-pix_fmt", pix_fmt,
           *(["-x265-params", "log-level=error"] if encoder == "libx265" else []), src)
    result = run("video", src, tmp_path / "out.mp4", "--passthrough")
    assert result.exit_code == 0, result.output
    out = probe(tmp_path / "out.mp4")
    assert (out.codec, out.pix_fmt) == (codec, pix_fmt) and "warning" not in result.output


def test_video__hdr10_hevc__colour_tags_mastering_display_and_light_level_kept(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    master = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-c:v", "libx265",
           "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
           "-x265-params", f"log-level=error:hdr10=1:master-display={master}:max-cll=1000,400", src)

    def hdr(path):
        frames = subprocess.run(["ffprobe", "-v", "error", "-read_intervals", "%+#1", "-show_frames", "-show_entries",
                                 "frame=color_transfer,color_primaries,side_data_list", "-of", "json", str(path)],
                                capture_output=True, text=True, check=True).stdout
        return frames.replace(" ", "")

    assert '"max_content":1000' in hdr(src) and '"red_x":"34000/50000"' in hdr(src)
    result = run("video", src, out, "--passthrough")
    assert result.exit_code == 0, result.output
    a, b = probe(src), probe(out)
    assert (b.codec, b.pix_fmt, b.color_transfer, b.color_primaries, b.color_space) == (
        "hevc", "yuv420p10le", "smpte2084", "bt2020", "bt2020nc")
    assert a.hdr == b.hdr and a.hdr.master_display == master and a.hdr.max_cll == "1000,400"
    result = run("video", src, tmp_path / "x264.mp4", "--passthrough", "--codec", "libx264")
    assert result.exit_code == 0 and "HDR10 mastering metadata" in result.output


def test_video__attachment_and_cover_art__kept_where_the_container_holds_them_else_warned(rich_clips, tmp_path):
    font, cover = tmp_path / "font.ttf", tmp_path / "cover.png"
    font.write_bytes(b"not really a font")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", cover)
    ffmpeg("-i", rich_clips / "rich.mkv", "-map", "0", "-c", "copy", "-attach", font,
           "-metadata:s:t", "mimetype=application/x-truetype-font", tmp_path / "fonts.mkv")
    ffmpeg("-i", rich_clips / "rich.mp4", "-i", cover, "-map", "0", "-map", "1", "-c", "copy",
           "-disposition:v:1", "attached_pic", tmp_path / "cover.mp4")

    def streams(path):
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name:stream_tags=filename,"
                              "mimetype:stream_disposition=attached_pic", "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if "attachment" in line or "png" in line]

    result = run("video", tmp_path / "fonts.mkv", tmp_path / "fonts-out.mkv", "--passthrough")
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert streams(tmp_path / "fonts-out.mkv") == streams(tmp_path / "fonts.mkv") == [
        "ttf,attachment,0,font.ttf,application/x-truetype-font"]
    result = run("video", tmp_path / "cover.mp4", tmp_path / "cover-out.mp4", "--passthrough")
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert streams(tmp_path / "cover-out.mp4") == streams(tmp_path / "cover.mp4") == ["png,video,1"]
    result = run("video", tmp_path / "cover.mp4", tmp_path / "cover-out.mkv", "--passthrough")
    assert result.exit_code == 0 and "not kept in .mkv" in result.output and "cover art" in result.output


def test_video__a_stream_the_container_refuses__exit_2_before_any_work_mkv_takes_it(tmp_path):
    src = tmp_path / "pcm.mov"  # PCM audio: QuickTime and Matroska hold it, MP4 does not
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-f", "lavfi", "-i", "sine=duration=0.4",
           "-c:v", "libx264", "-c:a", "pcm_s16le", src)
    result = run("video", src, tmp_path / "out.mp4", "--passthrough")
    assert result.exit_code == 2 and "cannot all go into .mp4" in result.output and "pcm_s16le" in result.output
    assert list(tmp_path.iterdir()) == [src]  # nothing written, no scratch left
    result = run("video", src, tmp_path / "out.mkv", "--passthrough")
    assert result.exit_code == 0, result.output
    assert [s.codec for s in probe(tmp_path / "out.mkv").of_kind("audio")] == ["pcm_s16le"]
