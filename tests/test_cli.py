"""The command line, in-process (click's CliRunner): bad input is one line, a non-zero exit, nothing written."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import smooth_image

from cli import main
from demosaic.artifact import save_model
from demosaic.config import UNetConfig
from demosaic.mosaic import MosaicRegion, pixelate


@pytest.fixture
def runner():
    return CliRunner()


def error_lines(result):
    return [l for l in result.stderr.splitlines() if l.strip()]


@pytest.fixture(scope="module")
def mosaic_png(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    photo = smooth_image(np.random.default_rng(11), 160, 224)
    observed, mask = pixelate(photo, [MosaicRegion("rect", ((32, 32), (160, 128)), (16, 16))])
    path = folder / "mosaic.png"
    cv2.imwrite(str(path), observed[..., ::-1])
    return path, mask


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from demosaic.unet import build_model

    folder = tmp_path_factory.mktemp("models")
    guided = UNetConfig(depth=3, base_channels=8, max_channels=16)
    pure = UNetConfig(depth=3, base_channels=8, max_channels=16, guided=False)
    return (save_model(build_model(guided), guided, folder / "guided"),
            save_model(build_model(pure), pure, folder / "pure"))


@pytest.mark.parametrize("args", [[], ["train"], ["train-detector"], ["detect"], ["image"], ["vgg-weights"]])
def test_help__every_command__exits_zero(runner, args):
    result = runner.invoke(main, args + ["--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.parametrize("detector", ["learned", "classical"])
def test_detect__mosaic_image__writes_mask_json_and_overlay(runner, mosaic_png, tmp_path, detector):
    src, truth = mosaic_png
    out, js, ov = tmp_path / "mask.png", tmp_path / "regions.json", tmp_path / "overlay.png"
    result = runner.invoke(main, ["detect", str(src), str(out), "--json", str(js), "--overlay", str(ov),
                                  "--detector", detector])
    assert result.exit_code == 0, result.output
    mask = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert mask.ndim == 2 and set(np.unique(mask)) <= {0, 255}
    assert ((mask > 0) == truth).mean() > 0.98
    regions = json.loads(js.read_text())["regions"]
    assert regions[0]["grid"]["pitch"] == [16.0, 16.0]
    assert cv2.imread(str(ov)).shape == (160, 224, 3)


def test_detect__unknown_detector__usage_error_nothing_written(runner, mosaic_png, tmp_path):
    result = runner.invoke(main, ["detect", str(mosaic_png[0]), str(tmp_path / "m.png"), "--detector", "magic"])
    assert result.exit_code == 2 and "--detector" in result.stderr
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("case", ["missing", "unreadable", "exists"])
def test_detect__bad_input__one_line_error_exit_2_nothing_written(runner, tmp_path, case):
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    if case == "unreadable":
        src.write_text("not an image")
    if case == "exists":
        cv2.imwrite(str(src), np.zeros((8, 8, 3), np.uint8))
        out.write_bytes(b"keep me")
    result = runner.invoke(main, ["detect", str(src), str(out)])
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert "Traceback" not in result.output
    if case == "exists":
        assert out.read_bytes() == b"keep me"
    else:
        assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"in.png", "out.png"}  # no temporary files left


def test_image__mask_of_the_wrong_size__exit_2_nothing_written(runner, mosaic_png, tmp_path):
    src, _ = mosaic_png
    mask = tmp_path / "mask.png"
    cv2.imwrite(str(mask), np.zeros((10, 10), np.uint8))
    out = tmp_path / "out.png"
    result = runner.invoke(main, ["image", str(src), str(out), "--mask", str(mask)])
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and "10x10" in result.stderr
    assert not out.exists()


def test_image__detected_mosaic__restored_and_outside_unchanged(runner, mosaic_png, tiny_models, tmp_path):
    src, truth = mosaic_png
    out = tmp_path / "restored.png"
    result = runner.invoke(main, ["image", str(src), str(out), "--model", str(tiny_models[0])])
    assert result.exit_code == 0, result.output
    before = cv2.imread(str(src))
    after = cv2.imread(str(out))
    np.testing.assert_array_equal(after[~truth], before[~truth])


def test_image__exclude_over_half_the_mosaic__that_half_unchanged(runner, mosaic_png, tiny_models, tmp_path):
    src, truth = mosaic_png
    keep_out = np.zeros(truth.shape, np.uint8)
    keep_out[:, 96:] = 255  # the mosaic's right half (x 96-159) and everything beside it
    exclude, out = tmp_path / "exclude.png", tmp_path / "restored.png"
    cv2.imwrite(str(exclude), keep_out)
    result = runner.invoke(main, ["image", str(src), str(out), "--model", str(tiny_models[0]),
                                  "--exclude", str(exclude)])
    assert result.exit_code == 0, result.output
    before, after = cv2.imread(str(src)), cv2.imread(str(out))
    np.testing.assert_array_equal(after[keep_out > 0], before[keep_out > 0])
    assert (after[truth & (keep_out == 0)] != before[truth & (keep_out == 0)]).any()  # the rest was restored


def test_image__exclude_over_the_whole_mosaic__output_is_the_input(runner, mosaic_png, tmp_path):
    src, truth = mosaic_png
    exclude, out = tmp_path / "exclude.png", tmp_path / "restored.png"
    cv2.imwrite(str(exclude), truth.astype(np.uint8) * 255)
    result = runner.invoke(main, ["image", str(src), str(out), "--exclude", str(exclude)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == src.read_bytes()


def test_image__exclude_of_the_wrong_size__exit_2_nothing_written(runner, mosaic_png, tmp_path):
    src, _ = mosaic_png
    exclude, out = tmp_path / "exclude.png", tmp_path / "restored.png"
    cv2.imwrite(str(exclude), np.zeros((10, 10), np.uint8))
    result = runner.invoke(main, ["image", str(src), str(out), "--exclude", str(exclude)])
    assert result.exit_code == 2 and len(error_lines(result)) == 1 and not out.exists()


def test_image__mask_without_a_grid__kept_as_it_is_and_says_so(runner, tiny_models, tmp_path):
    photo = smooth_image(np.random.default_rng(4), 64, 64)
    src, mask_path, out = tmp_path / "in.png", tmp_path / "mask.png", tmp_path / "out.png"
    cv2.imwrite(str(src), photo[..., ::-1])
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:44] = 255
    cv2.imwrite(str(mask_path), mask)
    result = runner.invoke(main, ["image", str(src), str(out), "--mask", str(mask_path),
                                  "--model", str(tiny_models[1])])
    assert result.exit_code == 0, result.output
    assert "the masked area is kept as it is" in result.stderr
    # Nothing to take evidence from: never below the input (pure inpainting would fill it from outside).
    np.testing.assert_array_equal(cv2.imread(str(out))[..., ::-1], photo)


def test_image__clean_photo__output_equals_input_with_a_note(runner, tmp_path):
    photo = smooth_image(np.random.default_rng(6), 64, 64)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    cv2.imwrite(str(src), photo[..., ::-1])
    result = runner.invoke(main, ["image", str(src), str(out)])
    assert result.exit_code == 0 and "no mosaic found" in result.stderr
    np.testing.assert_array_equal(cv2.imread(str(out)), cv2.imread(str(src)))


@pytest.mark.parametrize("args,needle", [
    (["--crop", "100"], "--crop"),
    (["--data", "/nonexistent/photos"], "--data"),
    (["--arch", "resnet"], "--arch"),
])
def test_train__bad_usage__one_line_exit_2(runner, tmp_path, args, needle):
    result = runner.invoke(main, ["train", "--out", str(tmp_path / "run")] + args)
    assert result.exit_code == 2
    lines = error_lines(result)
    assert len(lines) == 1 and needle in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def mosaic_clip(tmp_path_factory):
    """ffmpeg's own pixelize filter on a 160×96 patch of a noisy moving test pattern, H.264 CRF 18."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    graph = ("noise=alls=10:allf=t,split[a][b];[b]crop=160:96:64:48,pixelize=width=16:height=16[p];"
             "[a][p]overlay=64:48")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=1.2",
                    "-filter_complex", graph, "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


@pytest.mark.parametrize("every, detected", [("1", 12), ("8", 3)])
def test_detect__video__mask_video_frame_for_frame(runner, mosaic_clip, tmp_path, every, detected):
    """Every frame detected, or only frames 0, 8 and 11 (keyframes, and the last frame, which
    closes the last interval): the mosaic stays, so the frames between take their regions."""
    out, js = tmp_path / "mask.mkv", tmp_path / "frames.json"
    result = runner.invoke(main, ["detect", str(mosaic_clip), str(out), "--json", str(js), "--detect-every", every])
    assert result.exit_code == 0, result.output
    assert f"({detected} detected in full)" in result.output
    from demosaic.video import read_frames

    masks = [f[..., 0] > 127 for f in read_frames(out)]
    assert len(masks) == 12 and masks[0].shape == (240, 320)
    truth = np.zeros((240, 320), bool)
    truth[48:144, 64:224] = True
    from demosaic.detect import iou
    assert np.mean([iou(m, truth) for m in masks]) >= 0.8
    assert len(json.loads(js.read_text())["frames"]) == 12


def test_detect__unreadable_video__exit_2_nothing_written(runner, tmp_path):
    src, out = tmp_path / "bad.mp4", tmp_path / "mask.mkv"
    src.write_bytes(b"\x00" * 64)
    result = runner.invoke(main, ["detect", str(src), str(out)])
    assert result.exit_code == 2 and len(error_lines(result)) == 1
    assert not out.exists() and {p.name for p in tmp_path.iterdir()} == {"bad.mp4"}


def test_detection_json__numpy_numbers__plain_json():
    """Regions grown or split by the detector can carry NumPy integers and floats: the JSON
    written by `detect --json` holds plain numbers all the same."""
    import json

    from demosaic.detect import Detection, Region
    from pipelines.images import detection_json

    region = Region((np.int32(3), np.int64(4), np.int32(20), 30), (np.float64(8.0), 8.0), (np.float32(1.5), 0.0),
                    "mean", np.int64(6), np.float32(0.9))
    mask = np.zeros((40, 40), bool)
    mask[4:30, 3:20] = True
    text = json.dumps(detection_json(Detection(mask, (region,), mask.astype(np.int32))))
    back = json.loads(text)["regions"][0]
    assert back["bbox"] == [3, 4, 20, 30] and back["grid"] == {"pitch": [8.0, 8.0], "origin": [1.5, 0.0]}


def test_detect__video__moving_pixelize__keyframes_follow_it(runner, tmp_path):
    """ffmpeg's pixelize on a patch moving 2 px a frame (its grid moves with it), H.264:
    keyframes every 8 detect a fraction of the frames and find what every frame finds."""
    clip = tmp_path / "moving.mp4"
    graph = ("noise=alls=10:allf=t,split[a][b];[b]crop=128:96:'40+2*n':64,pixelize=width=16:height=16[p];"
             "[a][p]overlay='40+2*n':64")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2.4",
                    "-filter_complex", graph, "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(clip)],
                   check=True)
    from demosaic.detect import iou
    from demosaic.video import read_frames

    masks = {}
    for every in ("1", "8"):
        out = tmp_path / f"mask{every}.mkv"
        result = runner.invoke(main, ["detect", str(clip), str(out), "--detect-every", every])
        assert result.exit_code == 0, result.output
        masks[every] = [f[..., 0] > 127 for f in read_frames(out)]
        if every == "8":
            detected = int(result.output.split("(")[1].split()[0])
            assert detected < 16  # of 24 (10 here: where the detector draws the region a few px wider or narrower, two keyframes disagree)
    truth = []
    for n in range(24):
        t = np.zeros((240, 320), bool)
        t[64:160, 40 + 2 * n:168 + 2 * n] = True
        truth.append(t)
    assert np.mean([iou(m, t) for m, t in zip(masks["1"], truth)]) >= 0.8
    assert np.mean([iou(m, t) for m, t in zip(masks["8"], truth)]) >= 0.8
    assert np.mean([iou(a, b) for a, b in zip(masks["1"], masks["8"])]) >= 0.9


def test_image__fresh_process__no_tensorflow_banner_on_the_output(tmp_path):
    """TensorFlow prints its start-up notices from C++ whatever TF_CPP_MIN_LOG_LEVEL says; a
    command's output has none of them (a new interpreter: this one has TensorFlow loaded)."""
    import os

    photo = smooth_image(np.random.default_rng(3), 48, 64)
    cv2.imwrite(str(tmp_path / "in.png"), photo)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env)
    if "absl" not in plain.stderr and "oneDNN" not in plain.stderr:
        pytest.skip("this TensorFlow build prints no start-up banner: nothing to hide")
    proc = subprocess.run([sys.executable, "-m", "cli", "image", str(tmp_path / "in.png"), str(tmp_path / "out.png")],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    for noise in ("absl", "oneDNN", "cpu_feature_guard", "port.cc"):
        assert noise not in proc.stderr and noise not in proc.stdout


def test_filtered_stderr__notices_dropped_other_lines_kept(capfd):
    import os

    from demosaic.quiet import filtered_stderr

    with filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                     b"I0000 00:00:1796546303.558843   24804 port.cc:153] oneDNN custom operations are on.\n"
                     b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_quiet_import__tensorflow_loads_without_matplotlib_or_scipy_which_still_import_after():
    """The CLI's hook keeps Keras from importing matplotlib.pyplot, and TensorFlow's legacy engine
    scipy.sparse, while TensorFlow loads (start-up); both import afterwards as usual, and
    work. The import runs without the garbage collector: what was garbage before it is
    collected (not frozen), what it made is frozen, and the collector is on again after."""
    code = ("import gc, sys, weakref\n"
            "from demosaic import quiet\n"
            "quiet.install()\n"
            "class Cycle: pass\n"
            "c = Cycle(); c.me = c; gone = weakref.ref(c); del c\n"
            "import tensorflow, keras\n"
            "assert gone() is None, 'garbage from before the import frozen'\n"
            "assert gc.isenabled() and gc.get_freeze_count() > 100000, gc.get_freeze_count()\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported with TensorFlow'\n"
            "assert 'scipy' not in sys.modules, 'scipy imported with TensorFlow'\n"
            "import matplotlib\n"
            "matplotlib.use('Agg')\n"
            "import matplotlib.pyplot as plt\n"
            "plt.figure()\n"
            "import numpy as np, scipy.sparse, scipy.ndimage\n"
            "assert scipy.sparse.issparse(scipy.sparse.eye(3))\n"
            "assert scipy.ndimage.uniform_filter(np.ones((4, 4)), 3).sum() == 16\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_teardown__collector_frozen_at_exit_after_the_other_exit_handlers(tmp_path):
    """The CLI freezes the garbage collector at exit (a TensorFlow process's shutdown ran it for
    about 0.9 s), not before: exit handlers registered after its import still run with the
    collector on, a temporary folder left open is still removed, and only handlers registered
    before its import see it frozen."""
    code = ("import atexit, gc, sys, tempfile\n"
            "atexit.register(lambda: print('earlier handler, collector on:', gc.isenabled(), flush=True))\n"
            "import cli\n"
            "atexit.register(lambda: print('later handler, collector on:', gc.isenabled(), flush=True))\n"
            f"left = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})\n"
            "print(left.name, flush=True)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder, later, earlier = proc.stdout.splitlines()
    assert Path(folder).parent == tmp_path and not Path(folder).exists()
    assert later == "later handler, collector on: True"
    assert earlier == "earlier handler, collector on: False"


def test_image__one_mask_over_two_mosaics_of_other_lattices__each_part_its_own_grid(runner, tmp_path):
    """A user's mask over two mosaics (16 px on the frame's lattice, 8 px on the region's own):
    each connected part gets the grid measured inside it, so each comes out closer to the
    clean picture than its mosaic. One grid for the whole mask left the second 0.56 dB worse
    than its mosaic."""
    clean = smooth_image(np.random.default_rng(21), 360, 480)
    regions = [MosaicRegion("rect", ((96, 112), (256, 256)), (16, 16)),
               MosaicRegion("ellipse", ((260, 40), (420, 200)), (8, 8), align="region")]
    mosaic, truth = pixelate(clean, regions)
    cv2.imwrite(str(tmp_path / "in.png"), mosaic[..., ::-1])
    cv2.imwrite(str(tmp_path / "mask.png"), truth.astype(np.uint8) * 255)
    result = runner.invoke(main, ["image", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                                  "--mask", str(tmp_path / "mask.png")])
    assert result.exit_code == 0, result.output
    out = cv2.imread(str(tmp_path / "out.png"))[..., ::-1]

    def psnr(a, inside):
        return 10 * np.log10(255 ** 2 / np.mean((a[inside].astype(float) - clean[inside]) ** 2))

    for region in regions:
        inside = region.rasterise(*truth.shape)
        assert psnr(out, inside) > psnr(mosaic, inside) + 0.3, (region.shape, psnr(out, inside), psnr(mosaic, inside))
    assert np.array_equal(out[~truth], mosaic[~truth])
