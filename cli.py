"""The `demosaic` command: thin. Parse options, build configs, make one call, report errors in one line.

TensorFlow is imported inside commands, after input validation, so `--help` and bad
usage answer instantly.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from demosaic import __version__, quiet, teardown
from demosaic.config import PRECISION_DEFAULT, PRECISIONS, KeyframeConfig
from demosaic.errors import DemosaicError

from cli_train import train, train_detector, vgg_weights

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ logging: errors only
quiet.install()  # and its start-up banner, which that setting does not reach, off the output
teardown.install()  # and no garbage collection over TensorFlow's objects on the way out


class DemosaicGroup(click.Group):
    """Turns the project's errors into a one-line message and its exit code; never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DemosaicError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except click.UsageError as exc:  # one line, not click's usage block
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: still one line; DEMOSAIC_DEBUG=1 shows the traceback
            if os.environ.get("DEMOSAIC_DEBUG"):
                raise
            click.echo(f"Error: internal error ({type(exc).__name__}: {exc}); "
                       "rerun with DEMOSAIC_DEBUG=1 for details", err=True)
            ctx.exit(1)


@click.group(cls=DemosaicGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="demosaic")
@click.option("--debug", is_flag=True, help="Show a Python traceback on unexpected errors (also: DEMOSAIC_DEBUG=1).")
def main(debug):
    """Find pixelation mosaics in images and video and restore what lies under them."""
    if debug:
        os.environ["DEMOSAIC_DEBUG"] = "1"


VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov")


def _detector_config(detector: str = "learned", dilate: int = 0):
    """The DetectorConfig the command's --detector and --dilate ask for; the learned
    segmenters' model cards are checked here, before anything loads TensorFlow."""
    from demosaic.artifact import DETECTOR_FORMAT, read_card
    from demosaic.detect import DEFAULT_SECOND_OPINION, DEFAULT_SEGMENTER, DetectorConfig

    learned = detector == "learned"
    if learned:
        try:
            for card in (DEFAULT_SEGMENTER, DEFAULT_SECOND_OPINION):
                read_card(card, DETECTOR_FORMAT)
        except DemosaicError as exc:
            raise click.UsageError(f"{exc} (or use --detector classical)")
    return DetectorConfig(dilate=dilate, learned="default" if learned else "")


def _detection(every: bool = False, dilate: bool = True):
    """--detector and --dilate, given to the command as one parameter, `detector`: the
    DetectorConfig they make; for video also --detect-every, given as `keyframes`: a
    KeyframeConfig (a video setting, not the detector's)."""

    def decorate(command):
        @functools.wraps(command)
        def run(*args, **kwargs):
            kwargs["detector"] = _detector_config(kwargs.pop("detector_name"), kwargs.pop("dilate", 0))
            if every:
                kwargs["keyframes"] = KeyframeConfig(every=kwargs.pop("detect_every"))
            return command(*args, **kwargs)

        options = [click.option("--detector", "detector_name", type=click.Choice(["learned", "classical"]),
                                default="learned", show_default=True,
                                help="learned: the trained segmenter, its regions checked for a cell lattice, with "
                                     "the classical detector, and each region of coded video confirmed by a second "
                                     "segmenter trained on flat graphics too; classical: the classical detector alone "
                                     "(faster).")]
        if dilate:
            options.append(click.option("--dilate", type=click.IntRange(0, 64), default=0, show_default=True,
                                        help="Grow the mask by this many px (feathered mosaic borders)."))
        if every:
            options.append(click.option(
                "--detect-every", type=click.IntRange(1, 250), default=KeyframeConfig.every, show_default=True,
                help="Video: detect in full every N-th frame; the frames between take those regions, moved as "
                     "they moved, where both keyframes agree and each frame still shows them (else they are "
                     "detected too). A mosaic shorter than N frames that starts and ends between keyframes is "
                     "missed; 1: every frame."))
        for option in reversed(options):
            run = option(run)
        return run

    return decorate


_overwrite = click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")


def _restore_options(command):
    """IN, OUT and the options `image` and `video` share."""
    for option in reversed([
        click.argument("src", metavar="IN", type=click.Path(dir_okay=False, path_type=Path)),
        click.argument("dst", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--mask", "mask_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="A mask image (nonzero = mosaic) instead of detection, or for video also a mask "
                          "video of the same size (one mask per frame); the cell grid is estimated inside it."),
        click.option("--exclude", "exclude_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="A mask image (nonzero = keep out) of pixels never restored, whatever is found there: "
                          "logos, captions, graphics."),
        click.option("--mode", type=click.Choice(["guided", "inpaint"]), default="guided", show_default=True,
                     help="guided: use the mosaic's cell colours; inpaint: the paper's pure inpainting."),
        click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Model card (.json) or weights (.npz); default: the shipped model for --mode."),
        _overwrite,
    ]):
        command = option(command)
    return command


@main.command()
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the regions found (box, cell pitch, grid phase) as JSON.")
@click.option("--overlay", "overlay_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the input with the mask drawn on it.")
@_overwrite
@_detection(every=True)
def detect(src, dst, json_path, overlay_path, overwrite, detector, keyframes):
    """Find mosaics in IN; write the mask (255 = mosaic) to OUT.

    For an image, OUT is a PNG; for a video (OUT ending in .mkv, .mp4 or .mov), a lossless
    mask video with the input's size and frame rate."""
    from demosaic.images import IMAGE_SUFFIXES, check_output
    from demosaic.pictures import read_picture
    from pipelines.images import detect_image, detect_video

    video = dst.suffix.lower() in VIDEO_SUFFIXES
    if not video and dst.suffix.lower() != ".png":
        raise click.BadParameter("OUT must end in .png (image) or .mkv/.mp4/.mov (video)", param_hint="OUT")
    check_output(dst, overwrite, (src,), suffixes=VIDEO_SUFFIXES if video else IMAGE_SUFFIXES)
    for extra in (json_path, overlay_path):
        if extra is not None:
            check_output(extra, overwrite, (src,), suffixes=(extra.suffix,))
    if video:
        if overlay_path is not None:
            raise click.BadParameter("--overlay is for images", param_hint="--overlay")
        from demosaic.probe import probe

        probe(src)  # an unreadable video fails here, before anything is written
        summary = detect_video(src, dst, json_path, detector, keyframes)
        click.echo(f"{summary['frames_with_mosaic']} of {summary['frames']} frames with mosaics "
                   f"({summary['frames_detected']} detected in full) -> {dst}")
        return
    read_picture(src)  # fail on unreadable input before doing anything
    found = detect_image(src, dst, json_path, overlay_path, detector)
    click.echo(f"{len(found.regions)} mosaic region(s), {int(found.mask.sum())} px -> {dst}")


@main.command()
@_restore_options
@_detection()
def image(src, dst, mask_path, exclude_path, mode, model_path, overwrite, detector):
    """Restore the mosaics in image IN and write OUT; pixels outside the mosaics are unchanged."""
    from demosaic.images import check_output, read_mask
    from demosaic.pictures import read_picture
    from demosaic.restore import check_model
    from pipelines.images import restore_image

    check_output(dst, overwrite, (src, mask_path, exclude_path))
    shape = read_picture(src).pixels.shape[:2]  # validate everything before TensorFlow loads
    for path in (mask_path, exclude_path):
        if path is not None:
            read_mask(path, shape)
    check_model(mode, model_path)
    summary = restore_image(src, dst, mask_path, model_path, mode, detector,
                            note=lambda m: click.echo(f"note: {m}", err=True), exclude_path=exclude_path)
    click.echo(f"restored {summary['restored_pixels']} px ({summary['mode']}) -> {dst}")


def _video_options(command):
    """Encoding and pipeline options `video` and `batch` share."""
    for option in reversed([
        click.option("--codec", type=click.Choice(["auto", "libx264", "libx265", "ffv1"]), default="auto",
                     show_default=True, help="auto: libx265 for an H.265 input, else libx264."),
        click.option("--crf", type=click.IntRange(0, 51), default=18, show_default=True),
        click.option("--preset", type=click.Choice(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                                                    "slow", "slower", "veryslow"]), default="medium", show_default=True),
        click.option("--lossless", is_flag=True, help="Lossless video: the input's own YUV planes (FFV1 in .mkv, "
                     "x264 -qp 0 otherwise), or RGB (bgr0 / x264rgb) where they cannot be kept."),
        click.option("--passthrough", is_flag=True,
                     help="Restore nothing: the same decode and encode, to preview what the encode costs and "
                          "to score a restored output against."),
        click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write a JSON summary (frames, frames restored, regions, timings)."),
        click.option("--batch-frames", type=click.IntRange(1, 256), default=8, show_default=True),
        click.option("--temporal-radius", type=click.IntRange(0, 30), default=2, show_default=True,
                     help="Masks are a majority vote over this many frames either side (0: per frame)."),
        click.option("--fuse-radius", type=click.IntRange(0, 15), default=0, show_default=True,
                     help="Solve each mosaic from this many frames either side, where the picture moves "
                          "against its cells (0: each frame alone). Slower; see BENCHMARKS.md."),
        click.option("--precision", type=click.Choice(PRECISIONS), default=PRECISION_DEFAULT,
                     show_default=True,
                     help="The network's arithmetic. auto: bfloat16 where this machine's CPU has bfloat16 "
                          "arithmetic (AVX512-BF16 or AMX) and there is no GPU; float32 with --ray (its nodes "
                          "may differ: name bfloat16 to use it there). Fixed once per job; the report says which."),
        click.option("--ray", "ray_address", metavar="ADDRESS",
                     help="Run on Ray: 'local' starts one on this machine (loopback) and stops it after; "
                          "'auto' or an address joins a running cluster."),
        click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
                     help="Ray workers (0: one per GPU, else one per CPU but one)."),
        click.option("--gpus-per-worker", type=click.FloatRange(0), default=0.0, show_default=True,
                     help="GPUs per Ray worker (0: 1 where the cluster has GPUs, else CPU workers)."),
        click.option("--segment-frames", type=click.IntRange(4), default=1500, show_default=True,
                     help="Frames per segment: the unit of work, retry and resume."),
    ]):
        command = option(command)
    return command


def _settings(mode, model_path, mask_path, codec, crf, preset, lossless, detector, keyframes, batch_frames,
              temporal_radius, fuse_radius, exclude_path=None, precision="float32", ray=False):
    from demosaic.restore import PASSTHROUGH, resolve_precision
    from demosaic.video import EncodeOptions
    from pipelines.segments import Settings

    return Settings(model_path=str(model_path.absolute()) if model_path else None, mode=mode,
                    mask_path=str(mask_path.absolute()) if mask_path else None,
                    encode=EncodeOptions(codec=codec, crf=crf, preset=preset, lossless=lossless),
                    detector=detector, keyframes=keyframes, batch_frames=batch_frames, temporal_radius=temporal_radius,
                    fuse_radius=fuse_radius, exclude_path=str(exclude_path.absolute()) if exclude_path else None,
                    precision="float32" if mode == PASSTHROUGH or (ray and precision == "auto")
                    else resolve_precision(precision))


@main.command()
@_restore_options
@_video_options
@click.option("--strict", is_flag=True, help="Fail (nothing written) when the input has damaged frames.")
@click.option("--quiet", is_flag=True, help="No progress line (there is none when stderr is not a terminal).")
@_detection(every=True)
def video(src, dst, mask_path, exclude_path, mode, model_path, codec, crf, preset, lossless, passthrough, report_path, batch_frames,
          temporal_radius, fuse_radius, precision, ray_address, workers, gpus_per_worker, segment_frames, strict, quiet,
          overwrite, detector, keyframes):
    """Restore the mosaics in video IN and write OUT, audio and subtitles copied untouched."""
    from demosaic.images import check_output
    from demosaic.restore import PASSTHROUGH, check_model
    from demosaic.probe import probe
    from pipelines.run import restore_one
    from pipelines.video import progress_line, write_report

    mode = PASSTHROUGH if passthrough else mode
    # Room for the encoded video and its muxed copy, each about the input's size at the default CRF.
    check_output(dst, overwrite, (src,), suffixes=VIDEO_SUFFIXES, needed=2 * src.stat().st_size if src.is_file() else 0)
    info = probe(src)  # a missing or unreadable input fails here, before TensorFlow loads
    if mask_path is not None:
        from pipelines.video import is_video_path, open_mask_video

        if is_video_path(mask_path):
            open_mask_video(mask_path, info).close()
        else:
            from demosaic.images import read_mask

            read_mask(mask_path, (info.height, info.width))
    if exclude_path is not None:
        from demosaic.images import read_mask

        read_mask(exclude_path, (info.height, info.width))
    check_model(mode, model_path)
    warn = lambda m: click.echo(f"warning: {m}", err=True)  # noqa: E731
    terminal = not quiet and sys.stderr.isatty()
    report = restore_one(src, dst, _settings(mode, model_path, mask_path, codec, crf, preset, lossless, detector,
                                             keyframes, batch_frames, temporal_radius, fuse_radius, exclude_path,
                                             precision, bool(ray_address)),
                         ray_address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                         segment_frames=segment_frames, strict=strict, warn=warn,
                         log=lambda m: None if quiet else click.echo(m, err=True),
                         progress=(lambda *p: click.echo("\r" + progress_line(*p).ljust(48), err=True, nl=False))
                         if terminal else None)
    if terminal and not ray_address:
        click.echo("", err=True)
    if report_path is not None:
        write_report(report, report_path)
    click.echo(f"{report['frames']} frames, {report['frames_restored']} restored, "
               f"{report['frames_per_second']} frames/s -> {dst}")


@main.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the restored videos go (created if missing).")
@click.option("--suffix", type=click.Choice([".mkv", ".mp4", ".mov"]),
              help="Output container (default: the input's where it is one of these, else .mkv).")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False, path_type=Path),
              help="One static mask image for every input (they must share its size).")
@click.option("--exclude", "exclude_path", type=click.Path(dir_okay=False, path_type=Path),
              help="One mask image (nonzero = keep out) of pixels never restored in any input (they must share its size).")
@click.option("--mode", type=click.Choice(["guided", "inpaint"]), default="guided", show_default=True)
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Model card (.json) or weights (.npz); default: the shipped model for --mode.")
@click.option("--overwrite", is_flag=True, help="Redo outputs already finished.")
@_video_options
@_detection(every=True)
def batch(inputs, out_dir, suffix, mask_path, exclude_path, mode, model_path, overwrite, codec, crf, preset, lossless,
          passthrough, report_path, batch_frames, temporal_radius, fuse_radius, precision, ray_address, workers,
          gpus_per_worker, segment_frames, detector, keyframes):
    """Restore many videos (files, folders, or manifest files listing one path per line).

    Re-running skips finished outputs and resumes unfinished ones segment by segment. Exit 0
    when every input was restored, 1 when some failed (the others are still written)."""
    from demosaic.images import check_writable
    from demosaic.restore import PASSTHROUGH, check_model
    from pipelines.batch import find_inputs, output_for, run_batch
    from pipelines.run import make_executor
    from pipelines.video import write_report

    mode = PASSTHROUGH if passthrough else mode

    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise click.BadParameter(f"{missing[0]}: no such file or folder", param_hint="INPUT")
    videos = find_inputs(inputs)
    if not videos:
        raise click.BadParameter("no videos found", param_hint="INPUT")
    for path, hint in ((mask_path, "--mask"), (exclude_path, "--exclude")):
        if path is not None and not path.is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint=hint)
    check_model(mode, model_path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(f"{out_dir}: {exc.strerror}", param_hint="--out-dir")
    sizes = [v.stat().st_size for v in videos]
    check_writable(out_dir, needed=sum(sizes) + max(sizes))  # every output, and one video's muxed copy
    settings = _settings(mode, model_path, mask_path, codec, crf, preset, lossless, detector, keyframes,
                         batch_frames, temporal_radius, fuse_radius, exclude_path, precision, bool(ray_address))
    executor = make_executor(ray_address, workers, gpus_per_worker)
    try:
        result = run_batch([(v, output_for(v, out_dir, suffix)) for v in videos], settings, executor,
                           overwrite=overwrite, segment_frames=segment_frames,
                           log=lambda m: click.echo(m, err=True), warn=lambda m: click.echo(f"warning: {m}", err=True))
    finally:
        executor.close()
    if report_path is not None:
        write_report(result, report_path)
    for entry in result["videos"]:
        click.echo(f"{entry['status']}: {entry['input']}" + (f" ({entry['error']})" if entry.get("error") else ""))
    if result["failed"]:
        click.echo(f"Error: {result['failed']} of {len(result['videos'])} input(s) failed", err=True)
        sys.exit(1)


@main.command()
@click.option("--images", "image_dirs", multiple=True, type=click.Path(exists=True),
              help="Photos (files or folders; repeatable). Default: the KDE Plasma wallpapers, never trained on.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Report folder: report.md, metrics.json, charts, side-by-side crops.")
@click.option("--cells", default="8,16,24", show_default=True, help="Cell sizes, comma-separated.")
@click.option("--limit", type=click.IntRange(0), default=0, help="Use only the first N photos.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Guided model (default: the shipped one).")
@click.option("--pure-model", type=click.Path(dir_okay=False, path_type=Path),
              help="Pure-inpainting model (default: the shipped one).")
@click.option("--paper/--no-paper", default=True, show_default=True,
              help="Also the paper's irregular-hole protocol for the pure model.")
@click.option("--crf", type=click.IntRange(0, 51),
              help="Code each mosaic with H.264 at this CRF before restoring, as video arrives.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=PRECISION_DEFAULT, show_default=True,
              help="The guided network's arithmetic, as `demosaic video --precision`.")
@_overwrite
def evaluate(image_dirs, out_dir, cells, limit, seed, model_path, pure_model, paper, crf, precision, overwrite):
    """Restoration quality (PSNR, SSIM, LPIPS) of every method on photos with synthetic mosaics."""
    from demosaic.data import evaluation_photos, find_images
    from demosaic.restore import check_model, resolve_precision
    from pipelines.evaluate import EvalConfig, evaluate as run_evaluation

    try:
        cell_sizes = tuple(int(c) for c in cells.split(","))
    except ValueError:
        raise click.BadParameter("comma-separated integers, e.g. 8,16,24", param_hint="--cells")
    if not cell_sizes or min(cell_sizes) < 2:
        raise click.BadParameter("cell sizes must be at least 2", param_hint="--cells")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise click.BadParameter(f"{out_dir} is not empty; use --overwrite", param_hint="--out")
    photos = find_images(image_dirs) if image_dirs else evaluation_photos()
    photos = photos[:limit] if limit else photos
    if not photos:
        raise click.UsageError("no photos: install plasma-workspace-wallpapers or pass --images DIR")
    for m, mode in ((model_path, "guided"), (pure_model, "inpaint")):
        check_model(mode, m)
    result = run_evaluation(photos, out_dir, EvalConfig(cells=cell_sizes, seed=seed, paper_protocol=paper, crf=crf,
                                                         precision=resolve_precision(precision)),
                            model_path, pure_model,
                            progress=lambda m: click.echo(m, err=True) if sys.stderr.isatty() else None)
    s = result["summary"]
    click.echo("region PSNR (dB) / LPIPS by cell size")
    for method, by_cell in s.items():
        click.echo(f"  {method:18s} " + "  ".join(f"{by_cell[str(c)]['psnr']:6.2f}/{by_cell[str(c)]['lpips']:.3f}"
                                                  for c in cell_sizes))
    click.echo(f"report: {out_dir / 'report.md'}")


@main.group()
def benchmark():
    """Measure speed and detection quality: detect, model, video."""


@benchmark.command("model")
@click.option("--sizes", default="128,256,512", show_default=True, help="Square input sizes, comma-separated.")
@click.option("--batch", type=click.IntRange(1, 64), default=4, show_default=True, help="Batch at 128² and 256² (1 above).")
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
def benchmark_model(sizes, batch, repeats, out_path):
    """Images/s and GFLOP/s per architecture and size, next to the measured matmul peak."""
    try:
        size_list = tuple(int(v) for v in sizes.split(","))
    except ValueError:
        raise click.BadParameter("comma-separated integers", param_hint="--sizes")
    from pipelines.benchmark import model_benchmark, model_table, write_json

    result = model_benchmark(size_list, batch, repeats)
    if out_path is not None:
        write_json(result, out_path)
    click.echo(model_table(result))


@benchmark.command("video")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ray-workers", default="", help="Also through a local Ray with these worker counts, e.g. 1,2.")
@click.option("--repeats", type=click.IntRange(1), default=1, show_default=True)
@click.option("--fuse-radius", type=click.IntRange(0, 15), default=0, show_default=True,
              help="Also the single-frame path against fusion at this radius, in turn (--repeats each): CPU a frame.")
@click.option("--sizes", default="", help="Also end-to-end frames/s on IN scaled to these sizes, e.g. 768x576,1280x720.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=PRECISION_DEFAULT, show_default=True,
              help="The network's arithmetic, as `demosaic video --precision`.")
@_detection(every=True, dilate=False)
def benchmark_video(src, ray_workers, repeats, fuse_radius, sizes, out_path, precision, detector, keyframes):
    """Per-stage and end-to-end frames/s of `demosaic video` on IN, its wall time against a
    plain ffmpeg transcode with the same encoder settings (with start-up and without), and
    peak memory."""
    import tempfile

    from demosaic.probe import probe
    from demosaic.restore import resolve_precision
    from pipelines.benchmark import video_benchmark, video_table, write_json

    probe(src)
    try:
        workers = tuple(int(v) for v in ray_workers.split(",") if v)
    except ValueError:
        raise click.BadParameter("comma-separated integers", param_hint="--ray-workers")
    try:
        size_list = tuple(tuple(int(v) for v in s.split("x")) for s in sizes.split(",") if s)
    except ValueError:
        raise click.BadParameter("comma-separated WIDTHxHEIGHT", param_hint="--sizes")
    if any(len(s) != 2 or min(s) < 16 or s[0] % 2 or s[1] % 2 for s in size_list):
        raise click.BadParameter("comma-separated WIDTHxHEIGHT, even, at least 16", param_hint="--sizes")
    with tempfile.TemporaryDirectory(prefix="demosaic-bench-") as work:
        result = video_benchmark(src, Path(work), ray_workers=workers, repeats=repeats,
                                 detector=detector, keyframes=keyframes, fuse_radius=fuse_radius,
                                 sizes=size_list, precision=resolve_precision(precision))
    if out_path is not None:
        write_json(result, out_path)
    click.echo(video_table(result))


@benchmark.command("detect")
@click.option("--images", "image_dirs", multiple=True, type=click.Path(exists=True),
              help="Photos or folders (default: the KDE Plasma wallpapers, kept out of training and tuning).")
@click.option("--limit", type=click.IntRange(1), help="Use at most this many photos.")
@click.option("--cases", type=click.IntRange(1), default=2, show_default=True, help="Mosaic cases per photo.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the full results as JSON.")
@_detection()
def benchmark_detect(image_dirs, limit, cases, seed, out_path, detector):
    """Mean IoU, precision and recall by cell size and H.264 CRF; false positives; grid error; frames/s."""
    from demosaic.data import evaluation_photos, find_images
    from pipelines import benchmark_detect as bench
    from pipelines.benchmark import write_json

    photos = find_images(image_dirs) if image_dirs else evaluation_photos()
    photos = photos[:limit] if limit else photos
    if not photos:
        raise click.UsageError("no photos: install plasma-workspace-wallpapers or pass --images DIR")
    if detector.learned and not bench.network_on_one_core():
        click.echo("note: TensorFlow was already running: the speed is not one core's", err=True)
    result = bench.run(photos, bench.DetectBenchmarkConfig(cases_per_photo=cases, seed=seed,
                                                          detector=detector),
                       progress=lambda m: click.echo(m, err=True) if sys.stderr.isatty() else None)
    if out_path is not None:
        write_json(result, out_path)
    click.echo(bench.table(result))


main.add_command(train)
main.add_command(train_detector)
main.add_command(vgg_weights)


if __name__ == "__main__":
    sys.exit(main())
