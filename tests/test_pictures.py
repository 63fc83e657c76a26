"""Image files keep what they came with: depth, grey, alpha, metadata, and a lossy file's quality."""
import struct
import zlib

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from demosaic.pictures import jpeg_quality, read_picture, write_picture

# A little-endian TIFF header with one IFD entry: Orientation (0x0112) = 6, "rotate 90° to show".
EXIF_ROTATE_90 = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x0112, 3, 1, 6) + struct.pack("<I", 0)


BOX = (slice(16, 80), slice(32, 96))  # rows, cols of the mosaic: 4×4 cells of 16 px


@pytest.fixture
def photo(rng, tmp_path):
    """A photo (RGB uint8, 96×128) with a 16 px mosaic over BOX (cell means by OpenCV's area
    resampling), and the mask of BOX as a PNG."""
    from conftest import smooth_image

    image = smooth_image(rng, 96, 128)
    patch = image[BOX]
    cells = cv2.resize(patch, (4, 4), interpolation=cv2.INTER_AREA)
    image[BOX] = cv2.resize(cells, (64, 64), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((96, 128), np.uint8)
    mask[BOX] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    return image, tmp_path / "mask.png"


def outside() -> np.ndarray:
    keep = np.ones((96, 128), bool)
    keep[BOX] = False
    return keep


def restore(src, dst, *extra):
    result = CliRunner().invoke(main, ["image", str(src), str(dst), *map(str, extra)])
    assert result.exit_code == 0, result.output
    return result


def changed(a, b):
    return np.any((a != b).reshape(a.shape[0], a.shape[1], -1), axis=2)


def test_image__rgba_png__alpha_kept_outside_pixels_bit_identical(photo, tmp_path):
    rgb, mask = photo
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    cv2.imwrite(str(tmp_path / "in.png"), np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), alpha]))
    restore(tmp_path / "in.png", tmp_path / "out.png", "--mask", mask)
    a = cv2.imread(str(tmp_path / "in.png"), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert b.shape == a.shape == (96, 128, 4) and np.array_equal(a[..., 3], b[..., 3])
    diff = changed(a, b)
    assert diff[BOX].mean() > 0.5 and not diff[outside()].any()


@pytest.mark.parametrize("large", [False, True])
def test_image__rgba_png_pixelated_alpha__restored_with_its_colour(rng, tmp_path, large):
    """A cut-out (a soft disc of alpha) pixelated with its colour, as a tool that pixelates
    RGBA does: the alpha comes back closer to the clean one than the pixelated cells are,
    each cell's mean still the alpha it showed, and the alpha outside untouched; also on the
    large-picture path (crop by crop; its threshold lowered to this picture)."""
    from conftest import smooth_image

    image = smooth_image(rng, 96, 128)
    yy, xx = np.mgrid[:96, :128]
    disc = ((yy - 48) ** 2 + (xx - 64) ** 2 < 26 ** 2).astype(np.float32) * 255
    clean_alpha = cv2.GaussianBlur(disc, (0, 0), 3).round().astype(np.uint8)
    bgra = np.dstack([cv2.cvtColor(image, cv2.COLOR_RGB2BGR), clean_alpha])
    cells = cv2.resize(bgra[BOX], (4, 4), interpolation=cv2.INTER_AREA)
    pixelated = bgra.copy()
    pixelated[BOX] = cv2.resize(cells, (64, 64), interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(tmp_path / "in.png"), pixelated)
    mask = np.zeros((96, 128), np.uint8)
    mask[BOX] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    if large:
        from demosaic.config import TileConfig
        from demosaic.detect import DetectorConfig
        from pipelines.images import restore_image

        restore_image(tmp_path / "in.png", tmp_path / "out.png", tmp_path / "mask.png", None, "guided",
                      DetectorConfig(), note=print, tiles=TileConfig(above=1000))
    else:
        restore(tmp_path / "in.png", tmp_path / "out.png", "--mask", tmp_path / "mask.png")
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)[..., 3]

    def psnr(a):
        return 10 * np.log10(255 ** 2 / np.mean((a[BOX].astype(float) - clean_alpha[BOX]) ** 2))

    assert psnr(out) > psnr(pixelated[..., 3]) + 2, (psnr(out), psnr(pixelated[..., 3]))
    block_means = out[BOX].astype(float).reshape(4, 16, 4, 16).mean(axis=(1, 3))
    assert np.abs(block_means - cells[..., 3]).max() <= 1.0
    assert np.array_equal(out[outside()], pixelated[..., 3][outside()])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_image__smooth_alpha_over_a_mosaic__kept_bit_for_bit(photo, tmp_path, dtype):
    """An alpha of the picture's own (a gentle fade) over a mosaic of the colour is not a
    pixelated alpha: its cells vary inside, so it stays exactly as it came."""
    rgb, mask = photo
    top = 65535 if dtype == np.uint16 else 255
    fade = np.tile(np.linspace(top, top * 0.96, rgb.shape[1]), (rgb.shape[0], 1)).round().astype(dtype)
    colour = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(dtype) * (257 if dtype == np.uint16 else 1)
    cv2.imwrite(str(tmp_path / "in.png"), np.dstack([colour, fade]))
    restore(tmp_path / "in.png", tmp_path / "out.png", "--mask", mask)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == dtype and np.array_equal(out[..., 3], fade)
    assert changed(out[..., :3], colour)[BOX].mean() > 0.5  # the colour was restored


def grey_alpha_png(grey: np.ndarray, alpha: np.ndarray, icc: bytes | None = None) -> bytes:
    """A grey+alpha PNG (IHDR colour type 4, 8 or 16 bits) made with zlib alone, no filters:
    independent of OpenCV and of the code under test; with an iCCP chunk if `icc` is given."""
    height, width = grey.shape
    raw = np.dstack([grey, alpha]).astype(grey.dtype.newbyteorder(">")).view(np.uint8).reshape(height, -1)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8 * grey.dtype.itemsize, 4, 0, 0, 0)
    rows = b"".join(b"\0" + row.tobytes() for row in raw)  # filter type 0 on every row
    profile = b"" if icc is None else chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + profile + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_image__grey_alpha_png__stays_grey_alpha_alpha_and_outside_bit_identical(photo, tmp_path, dtype):
    rgb, mask = photo
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(dtype)
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]), (rgb.shape[0], 1)).astype(dtype)
    if dtype == np.uint16:
        grey, alpha = grey * 257 + 3, alpha * 257 + 5  # low bits an 8-bit path would lose
    (tmp_path / "in.png").write_bytes(grey_alpha_png(grey, alpha))
    restore(tmp_path / "in.png", tmp_path / "out.png", "--mask", mask)
    data = (tmp_path / "out.png").read_bytes()
    assert data[12:16] == b"IHDR" and (data[24], data[25]) == (8 * grey.itemsize, 4)  # bit depth, grey+alpha
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)  # libpng gives grey+alpha as BGRA
    assert out.dtype == dtype and np.array_equal(out[..., 3], alpha)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(out[..., 0][outside()], grey[outside()])
    assert (out[..., 0][BOX] != grey[BOX]).mean() > 0.5


def test_image__16_bit_png__stays_16_bit_outside_bit_identical(photo, tmp_path):
    rgb, mask = photo
    deep = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257 + 3  # low bits an 8-bit path would lose
    cv2.imwrite(str(tmp_path / "in.png"), deep)
    restore(tmp_path / "in.png", tmp_path / "out.png", "--mask", mask)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == deep.shape
    assert np.array_equal(out[outside()], deep[outside()]) and changed(out, deep)[BOX].mean() > 0.5


def test_image__grey_jpeg__stays_grey_at_its_quality(photo, tmp_path):
    grey = cv2.cvtColor(photo[0], cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "in.jpg"), grey, [cv2.IMWRITE_JPEG_QUALITY, 75])
    restore(tmp_path / "in.jpg", tmp_path / "out.jpg", "--mask", photo[1])
    out = cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED)
    assert out.ndim == 2 and out.shape == grey.shape
    assert jpeg_quality((tmp_path / "out.jpg").read_bytes()) == 75


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_jpeg_quality__files_written_by_libjpeg__quality_recovered(quality, rng):
    from conftest import smooth_image

    ok, data = cv2.imencode(".jpg", smooth_image(rng, 64, 64), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert jpeg_quality(data.tobytes()) == quality


def test_image__lossy_webp__written_lossy_at_a_similar_size(photo, tmp_path):
    bgr = cv2.cvtColor(photo[0], cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "in.webp"), bgr, [cv2.IMWRITE_WEBP_QUALITY, 60])
    restore(tmp_path / "in.webp", tmp_path / "out.webp", "--mask", photo[1])
    size_in, size_out = (tmp_path / "in.webp").stat().st_size, (tmp_path / "out.webp").stat().st_size
    data = (tmp_path / "out.webp").read_bytes()
    assert b"VP8 " in data[12:40] and b"VP8L" not in data  # lossy, as it came
    assert 0.7 < size_out / size_in < 1.3


def test_image__exif_orientation_kept_with_the_stored_layout(photo, tmp_path):
    bgr = cv2.cvtColor(photo[0], cv2.COLOR_RGB2BGR)
    cv2.imwriteWithMetadata(str(tmp_path / "in.jpg"), bgr, [cv2.IMAGE_METADATA_EXIF],
                            [np.frombuffer(EXIF_ROTATE_90, np.uint8)], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert cv2.imread(str(tmp_path / "in.jpg")).shape[:2] == (128, 96)  # shown turned
    restore(tmp_path / "in.jpg", tmp_path / "out.jpg", "--mask", photo[1])  # the mask in the stored layout
    data = (tmp_path / "out.jpg").read_bytes()
    assert b"Exif\x00\x00" + EXIF_ROTATE_90[:8] in data
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).shape[:2] == (96, 128)  # stored as it came
    assert cv2.imread(str(tmp_path / "out.jpg")).shape[:2] == (128, 96)  # and shown turned, as the input


def icc_profile() -> bytes:
    """A minimal valid ICC v2 display profile (RGB, XYZ connection space) with one tag, the white point."""
    white = b"XYZ " + bytes(4) + struct.pack(">iii", 63190, 65536, 54061)
    header = bytearray(128)
    struct.pack_into(">I4sI4s4s4s", header, 0, 128 + 4 + 12 + len(white), b"none", 0x02100000, b"mntr", b"RGB ",
                     b"XYZ ")
    header[36:40] = b"acsp"
    struct.pack_into(">iii", header, 68, 63190, 65536, 54061)
    return bytes(header) + struct.pack(">I4sII", 1, b"wtpt", 144, len(white)) + white


def iccp_chunk(path) -> bytes | None:
    """The profile in a PNG's iCCP chunk, read with zlib (independently of the code under test)."""
    data, i = path.read_bytes(), 8
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"iCCP":
            body = data[i + 8:i + 8 + n]
            return zlib.decompress(body[body.index(b"\0") + 2:])
        i += 12 + n
    return None


def test_picture__grey_alpha_png_with_icc_profile__written_back_as_it_came(tmp_path):
    grey, alpha = np.full((8, 12), 90, np.uint8), np.arange(96, dtype=np.uint8).reshape(8, 12)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(grey_alpha_png(grey, alpha, icc_profile()))
    write_picture(out, read_picture(src))
    assert out.read_bytes()[25] == 4 and iccp_chunk(out) == icc_profile()
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back[..., 0], grey) and np.array_equal(back[..., 3], alpha)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_picture__icc_profile__written_back(tmp_path, suffix):
    icc = icc_profile()
    image = np.full((8, 8, 3), 90, np.uint8)
    src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    cv2.imwriteWithMetadata(str(src), image, [cv2.IMAGE_METADATA_ICCP], [np.frombuffer(icc, np.uint8)])
    write_picture(out, read_picture(src))
    if suffix == ".png":
        assert iccp_chunk(src) == iccp_chunk(out) == icc
    else:
        assert b"ICC_PROFILE\x00" in out.read_bytes() and icc in out.read_bytes()


def test_image__clean_jpeg__output_is_the_input_bytes(rng, tmp_path):
    from conftest import smooth_image

    cv2.imwrite(str(tmp_path / "in.jpg"), smooth_image(rng, 64, 80), [cv2.IMWRITE_JPEG_QUALITY, 80])
    restore(tmp_path / "in.jpg", tmp_path / "out.jpg")
    assert (tmp_path / "out.jpg").read_bytes() == (tmp_path / "in.jpg").read_bytes()
