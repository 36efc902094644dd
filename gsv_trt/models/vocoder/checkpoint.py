"""Reading GPT-SoVITS vocoder checkpoints as upstream lays them out, with errors a user can act on.

v3: a directory with ``config.json`` and ``bigvgan_generator.pt`` = ``{"generator": state_dict}``, weight norm
still applied (``weight_g``/``weight_v``) or already removed. v4: ``vocoder.pth``, a bare state dict without weight
norm. Weight norm is folded here, so every later stage sees plain ``weight`` tensors.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from pathlib import Path

import torch

from ...errors import GsvTrtError

V3_CHECKPOINT = "bigvgan_generator.pt"
V3_CONFIG_FILE = "config.json"
V4_CHECKPOINT = "vocoder.pth"
WEIGHT_NORM_KEY = re.compile(r"(.*?)(weight_[gv]|parametrizations\.weight\.original[01])")


def sha256_of(*paths: Path) -> str:
    """Hex digest over the bytes of ``paths`` in order (v3 weights are config.json + the .pt together)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format: a pickle, protocol 2 or later
UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def read_checkpoint(path: Path) -> object:
    """``torch.load`` with weights_only (no code runs from the file), failures reported as one line that says what
    the file is: not a checkpoint at all, a damaged one, or one holding objects that are not tensors."""
    path = Path(path)
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file")
    if path.is_dir():
        raise GsvTrtError(f"{path}: is a directory, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise GsvTrtError(f"{path}: empty file")
    with open(path, "rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if not (head.startswith(ZIP_MAGIC) or head.startswith(PICKLE_MAGIC)):
        raise GsvTrtError(f"{path}: not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, KeyError) as e:
        found = UNSUPPORTED_GLOBAL.search(str(e))
        if found and not is_cut_torch_name(found.group(1)):
            raise GsvTrtError(f"{path}: holds a pickled Python object ({found.group(1)}), not just tensors; gsv-trt "
                              "reads only tensors and never runs code from a file: save the model's state_dict() "
                              "instead") from None
        raise GsvTrtError(f"{path}: a PyTorch checkpoint that cannot be read: truncated or corrupt") from None


def is_cut_torch_name(name: str) -> bool:
    """A ``torch.*`` name that does not exist: the unpickler read a truncated file, not a foreign object."""
    import pydoc

    return name.startswith("torch.") and pydoc.locate(name) is None


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace ``X.weight_g``/``X.weight_v`` (legacy) or ``X.parametrizations.weight.original0/1`` by ``X.weight``.

    Same arithmetic as ``torch.nn.utils.remove_weight_norm`` with dim=0: ``v * (g / ||v||)``, the norm taken over
    every dimension but the first.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = WEIGHT_NORM_KEY.fullmatch(key)
        if match is None:
            out[key] = value
            continue
        prefix, part = match.group(1), match.group(2)
        if part not in ("weight_g", "parametrizations.weight.original0"):
            continue  # the direction half, consumed with its magnitude
        v_key = prefix + ("weight_v" if part == "weight_g" else "parametrizations.weight.original1")
        v = state.get(v_key)
        if v is None:
            raise GsvTrtError(f"weight-norm pair incomplete: {key} has no {v_key}")
        norm = v.norm(dim=tuple(range(1, v.dim())), keepdim=True)
        out[prefix + "weight"] = v * (value / norm)
    return out


def detect_version(state: dict[str, torch.Tensor]) -> str | None:
    """``v3`` (BigVGAN: anti-aliased activations), ``v4`` (Generator: plain ups.i.weight) or None."""
    if any(".activations." in k or k.startswith("activation_post.") for k in state):
        return "v3"
    if "ups.0.weight" in state or "ups.0.weight_g" in state or "ups.0.parametrizations.weight.original0" in state:
        return "v4"
    return None


def unwrap_state_dict(obj: object, path: Path, version: str) -> dict[str, torch.Tensor]:
    """The generator's state dict inside a loaded checkpoint, or a one-line error saying what the file is."""
    if isinstance(obj, dict) and "generator" in obj and isinstance(obj["generator"], dict):
        obj = obj["generator"]
    elif isinstance(obj, dict) and "weight" in obj and "config" in obj:
        raise GsvTrtError(
            f"{path}: this is a SoVITS model checkpoint (s2G*.pth: weight + config), not a vocoder; "
            f"pass {'the BigVGAN directory' if version == 'v3' else 'gsv-v4-pretrained/vocoder.pth'}"
        )
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise GsvTrtError(f"{path}: not a vocoder state dict (expected a dict of tensors)")
    found = detect_version(obj)
    if found is None:
        raise GsvTrtError(f"{path}: neither a v3 (BigVGAN) nor a v4 (Generator) vocoder state dict")
    if found != version:
        names = {"v3": "v3 vocoder (BigVGAN, 24 kHz)", "v4": "v4 vocoder (Generator, 48 kHz)"}
        raise GsvTrtError(f"{path}: this is a {names[found]} checkpoint, but --version is {version}")
    return obj
