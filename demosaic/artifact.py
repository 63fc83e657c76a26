"""Trained model files: weights as a plain `.npz` of arrays and a JSON model card beside it.

`NAME.npz` holds one array per variable, keyed by the variable's path in the network
(float16 by default: half the size, no measurable loss), loaded with
`allow_pickle=False`, so nothing in the file can run code. `NAME.json` is the model card:
the architecture config, the guide definition, the contract, how it was trained, and the
SHA-256 of the `.npz`, checked at load time.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .config import COMPUTE_PRECISIONS, UNetConfig, from_dict, to_dict
from .errors import ModelError
from .vgg import sha256_file

FORMAT = "demosaic-model/1"
DETECTOR_FORMAT = "demosaic-detector/1"  # the learned mosaic segmenter (demosaic.detect_net)
GUIDE_DEFINITION = (
    "Inside each mosaic area: the observed colour of every cell (the mean of its masked pixels) "
    "placed at the cell centre and interpolated bicubically (cv2.remap, INTER_CUBIC) over the "
    "area, with one ring of neighbouring cells' real colours; equal to the observed image elsewhere. "
    "See demosaic.mosaic.cell_colour_guide."
)
CONTRACT = {
    "inputs": {
        "image": "(B,H,W,3) float32 RGB in [0,1], the observed frame",
        "valid": "(B,H,W,1) float32, 1 where known, 0 where to restore",
        "guide": "(B,H,W,3) float32 RGB in [0,1], guided models only",
    },
    "output": "(B,H,W,3) float32 RGB, clip to [0,1]; used only where valid == 0",
}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is not what a shared model folder wants
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights .npz, card .json) for a model named by either file or by its stem."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def save_model(model, config: UNetConfig, path: str | os.PathLike, card: dict | None = None,
               dtype=np.float16) -> Path:
    """Write weights and card atomically; returns the card's path."""
    weights_path, card_path = model_paths(path)
    _write_weights(model, weights_path, dtype)
    full = {
        "format": FORMAT,
        "name": weights_path.stem,
        "config": to_dict(config),
        "guide": GUIDE_DEFINITION if config.guided else None,
        "contract": CONTRACT,
        "size_multiple": config.size_multiple,
        "parameters": int(sum(np.prod(v.shape) for v in model.weights)),
        **(card or {}),
        "weights_file": weights_path.name,
        "sha256": sha256_file(weights_path),
        "notice": "Restored detail is synthesised by the network, not recovered: "
                  "it is plausible, not a record of what the mosaic hid.",
    }
    atomic_write_bytes(card_path, (json.dumps(full, indent=2) + "\n").encode())
    return card_path


def _write_weights(model, weights_path: Path, dtype) -> None:
    import io
    buf = io.BytesIO()
    np.savez(buf, **{v.path: np.asarray(v.numpy(), dtype=dtype) for v in model.weights})
    atomic_write_bytes(weights_path, buf.getvalue())


def save_detector(model, config, path: str | os.PathLike, card: dict | None = None) -> Path:
    """The learned segmenter's weights (float32: it is small) and card, atomically."""
    weights_path, card_path = model_paths(path)
    _write_weights(model, weights_path, np.float32)
    full = {
        "format": DETECTOR_FORMAT,
        "name": weights_path.stem,
        "config": to_dict(config),
        "contract": {"input": "(B,H,W,3) float32 RGB in [0,255], H and W multiples of 8",
                     "output": ("(B,H,W,3) float32 logits: mosaic; first/last column of a cell; first/last row "
                                "of a cell (each where > 0)") if config.borders
                     else "(B,H,W,1) float32 logits, mosaic where > 0"},
        "parameters": int(sum(np.prod(v.shape) for v in model.weights)),
        **(card or {}),
        "weights_file": weights_path.name,
        "sha256": sha256_file(weights_path),
    }
    atomic_write_bytes(card_path, (json.dumps(full, indent=2) + "\n").encode())
    return card_path


def read_card(path: str | os.PathLike, fmt: str = FORMAT) -> dict:
    _, card_path = model_paths(path)
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{card_path}: cannot read model card ({exc})") from None
    if card.get("format") != fmt:
        raise ModelError(f"{card_path}: not a {fmt} model card")
    return card


def load_model(path: str | os.PathLike, compute: str = "float32"):
    """(keras model, card) after checking the SHA-256 and every variable's name and shape.
    `compute` "bfloat16": the layers compute in bfloat16 (Keras' "mixed_bfloat16" policy),
    their weights kept as float32."""
    import keras

    from .unet import build_model

    if compute not in COMPUTE_PRECISIONS:
        raise ValueError(f"compute must be float32 or bfloat16, not {compute!r}")
    card = read_card(path)
    policy = keras.config.dtype_policy()  # per thread in Keras 3: other threads' models are not touched
    keras.config.set_dtype_policy("mixed_bfloat16" if compute == "bfloat16" else "float32")
    try:
        model = build_model(from_dict(UNetConfig, card["config"]))
    finally:
        keras.config.set_dtype_policy(policy)
    assign_weights(model, path, card)
    return model, card


def load_detector(path: str | os.PathLike):
    """(keras segmenter, card), checked like `load_model`."""
    from .detect_net import DetectNetConfig, build

    card = read_card(path, DETECTOR_FORMAT)
    model = build(from_dict(DetectNetConfig, card["config"]))
    assign_weights(model, path, card)
    return model, card


def assign_weights(model, path: str | os.PathLike, card: dict) -> None:
    """Load the weights file beside model card `card` into `model`, after checking its SHA-256."""
    weights_path, _ = model_paths(path)
    if not weights_path.exists():
        raise ModelError(f"{weights_path}: weights file missing")
    digest = sha256_file(weights_path)
    if digest != card.get("sha256"):
        raise ModelError(f"{weights_path}: SHA-256 {digest[:12]}… does not match its model card")
    with np.load(weights_path, allow_pickle=False) as arrays:
        stored = set(arrays.files)
        for v in model.weights:
            if v.path not in stored:
                raise ModelError(f"{weights_path}: no weights for {v.path}")
            value = arrays[v.path]
            if tuple(value.shape) != tuple(v.shape):
                raise ModelError(f"{weights_path}: {v.path} has shape {value.shape}, expected {tuple(v.shape)}")
            v.assign(value.astype(np.float32))
        extra = stored - {v.path for v in model.weights}
    if extra:
        raise ModelError(f"{weights_path}: unexpected weights {sorted(extra)[:3]}")
