"""Reading SoVITS files (``s2G*.pth``) as GPT-SoVITS writes them, and telling them apart from everything else.

Layout (upstream ``process_ckpt.savee``): a ``torch.save`` zip of ``{"weight": {name: fp16 tensor}, "config": the
s2 hyper-parameters (a dict, or ``utils.HParams`` when a training run wrote it), "info": "<e>epoch_<s>iteration"}``,
plus ``"lora_rank"`` for LoRA fine-tunes. Full files start with the zip's ``PK``; LoRA and v2Pro files have those two
bytes overwritten by a version marker (``my_save2``): 03 = v3 LoRA, 04 = v4 LoRA, 05/06 = v2Pro/v2ProPlus (02 = v3
is read by upstream but never written). Nothing in the file can run code: ``torch.load(weights_only=True)``, with
only ``utils.HParams`` mapped to an attribute bag.

Which version. v3 and v4 SoVITS models have the same architecture and weight shapes, and a full (non-LoRA) v4
fine-tune carries no marker, so upstream itself takes such a file for v3 (it goes by MD5 of the first 8 KiB for its
pretrained files, then the marker, then the file size). We go by the MD5, then the marker, then the config's
``model.version`` (which upstream's training webui records); where none of them says, ``version`` is None and the
caller's ``--version`` has to be trusted.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import GsvTrtError
from ..vocoder.checkpoint import detect_version as detect_vocoder
from .hparams import allow_hparams, plain_config
from .pretrained import HASHED_BYTES, PRETRAINED_MD5

ZIP_MAGIC = b"PK"
ZIP_LOCAL_HEADER = b"\x03\x04"  # bytes 2-3 of every zip, kept by the version marker
MARKERS: dict[bytes, tuple[str, bool]] = {b"02": ("v3", False), b"03": ("v3", True), b"04": ("v4", True)}
OTHER_MARKERS: dict[bytes, str] = {b"00": "v1", b"01": "v2", b"05": "v2Pro", b"06": "v2ProPlus"}
HANDLED = ("v3", "v4")
CFM_PREFIX = "cfm."
V1_SYMBOLS = 322  # rows of enc_p.text_embedding in a v1 file (v2 and later: 732)


@dataclass(frozen=True)
class SovitsFile:
    """One SoVITS file's contents (tensors as stored, fp16) and what it says about itself."""

    path: Path
    weights: dict[str, torch.Tensor]
    config: dict
    info: str | None
    head: bytes  # the first two bytes: b"PK" or a version marker
    version: str | None  # "v3" / "v4", or None where the file does not record it
    version_source: str  # how ``version`` was decided, for messages
    is_lora: bool
    lora_rank: int | None

    @property
    def kind(self) -> str:
        """E.g. "v4 LoRA (rank 32)" or "v3" or "SoVITS file of unrecorded version"."""
        name = self.version or "SoVITS file of unrecorded version"
        return f"{name} LoRA (rank {self.lora_rank})" if self.is_lora else name


def read_sovits(path: str | Path) -> SovitsFile:
    """Read a v3/v4 SoVITS file; any other file gets one line saying what it is and what is wrong."""
    path = Path(path)
    start = _read_start(path)
    head = start[:2]
    pretrained = PRETRAINED_MD5.get(hashlib.md5(start).hexdigest())
    if pretrained is not None and pretrained[0] not in HANDLED:
        raise GsvTrtError(f"{path}: this is upstream's pretrained {pretrained[1]}, a {pretrained[0]} SoVITS file; "
                          "gsv-trt handles v3/v4")
    if head in OTHER_MARKERS:
        raise GsvTrtError(f"{path}: this is a {OTHER_MARKERS[head]} SoVITS file (version marker {head.decode()}); "
                          "gsv-trt handles v3/v4")
    if head[:1] == b"\x80":
        raise GsvTrtError(f"{path}: a PyTorch file in the legacy (pre-1.6) format, not a SoVITS file "
                          "(GPT-SoVITS writes zip archives)")
    if start[2:4] != ZIP_LOCAL_HEADER or (head != ZIP_MAGIC and head not in MARKERS):
        raise GsvTrtError(f"{path}: not a PyTorch checkpoint (starts with bytes {start[:4].hex(' ')}; a SoVITS file is "
                          "a torch.save zip starting with PK or a 2-byte version marker)")
    obj = _torch_load(path, head)
    weights = _weights(obj, path)
    config = plain_config(obj.get("config", {}))
    if not isinstance(config, dict):
        raise GsvTrtError(f"{path}: 'config' is a {type(config).__name__}, expected a dict or HParams")
    _refuse_other_models(weights, path)
    is_lora, rank = _lora_fields(obj, head, weights, path)
    version, source = _version(pretrained, head, config)
    info = obj.get("info")
    return SovitsFile(path, weights, config, None if info is None else str(info), head, version, source, is_lora,
                      rank)


def _read_start(path: Path) -> bytes:
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file")
    if path.is_dir():
        raise GsvTrtError(f"{path}: is a directory, expected a SoVITS file (s2G*.pth)")
    with open(path, "rb") as f:
        start = f.read(HASHED_BYTES)
    if len(start) < 4:
        raise GsvTrtError(f"{path}: {'empty file' if not start else 'too short for a PyTorch checkpoint'}")
    return start


def _torch_load(path: Path, head: bytes) -> object:
    """torch.load without running code from the file; a marker is replaced by ``PK`` first, as upstream does."""
    source: Path | io.BytesIO = path if head == ZIP_MAGIC else io.BytesIO(ZIP_MAGIC + path.read_bytes()[2:])
    try:
        with allow_hparams():
            return torch.load(source, map_location="cpu", weights_only=True, mmap=head == ZIP_MAGIC)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found is None:
            raise GsvTrtError(f"{path}: truncated or corrupt (its pickled index cannot be read)") from None
        raise GsvTrtError(f"{path}: holds a Python object of type {found.group(1)}, which gsv-trt does not unpickle "
                          "(a SoVITS file holds tensors, plain containers and utils.HParams); "
                          "not a SoVITS checkpoint") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, OSError) as e:
        raise GsvTrtError(f"{path}: truncated or corrupt ({_reason(e)})") from None


def _reason(error: Exception) -> str:
    """A short, whole sentence for why torch could not read the file (torch's own messages run on for lines)."""
    text = " ".join(str(error).split())
    if "central directory" in text:
        return "the zip archive's directory at its end is missing"
    sentence = text.split(". ")[0]
    return sentence if sentence and len(sentence) <= 120 else type(error).__name__


def _weights(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """``obj["weight"]``, or a one-line error saying what kind of file this is instead."""
    if not isinstance(obj, dict):
        raise GsvTrtError(f"{path}: not a SoVITS checkpoint (holds a {type(obj).__name__}, expected a dict with "
                          "'weight' and 'config')")
    weights = obj.get("weight")
    if isinstance(weights, dict) and weights:
        bad = next((k for k, v in weights.items() if not isinstance(v, torch.Tensor)), None)
        if bad is not None:
            raise GsvTrtError(f"{path}: 'weight' entry {bad} is a {type(weights[bad]).__name__}, not a tensor")
        return dict(weights)
    inner = obj.get("generator", obj)
    if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
        vocoder = detect_vocoder(inner)
        if vocoder is not None:
            raise GsvTrtError(f"{path}: this is a {vocoder} vocoder checkpoint, not a SoVITS file "
                              "(s2Gv3.pth / gsv-v4-pretrained/s2Gv4.pth)")
        raise GsvTrtError(f"{path}: a bare state dict, not a SoVITS file (expected 'weight', 'config', 'info' as "
                          "GPT-SoVITS writes them)")
    if "model" in obj and "optimizer" in obj:
        raise GsvTrtError(f"{path}: a SoVITS training state (G_*.pth: model + optimizer), not an exported SoVITS "
                          "file; use the one GPT-SoVITS writes to SoVITS_weights_v3/ or SoVITS_weights_v4/")
    keys = ", ".join(sorted(map(str, obj))[:5])
    raise GsvTrtError(f"{path}: not a SoVITS checkpoint (no 'weight' tensors; top-level keys: {keys or 'none'})")


def _refuse_other_models(weights: dict[str, torch.Tensor], path: Path) -> None:
    """A GPT (text-to-semantic) file or a SoVITS model without a CFM gets its own message."""
    if all(k.startswith("model.") for k in weights):
        raise GsvTrtError(f"{path}: this is a GPT (text-to-semantic, s1*.ckpt) checkpoint, not a SoVITS file "
                          "(s2G*.pth)")
    if any(k.startswith(CFM_PREFIX) for k in weights):
        return
    if "sv_emb.weight" in weights:
        version = "v2Pro/v2ProPlus"
    else:
        embedding = weights.get("enc_p.text_embedding.weight")
        version = "v1" if embedding is not None and embedding.shape[0] == V1_SYMBOLS else "v1/v2"
    raise GsvTrtError(f"{path}: this is a {version} SoVITS file (no CFM weights, cfm.*); gsv-trt handles v3/v4")


def _lora_fields(obj: dict, head: bytes, weights: dict[str, torch.Tensor], path: Path) -> tuple[bool, int | None]:
    is_lora = "lora_rank" in obj or MARKERS.get(head, ("", False))[1]
    if not is_lora:
        if not any(k.startswith(CFM_PREFIX + "estimator.") for k in weights):
            raise GsvTrtError(f"{path}: cfm.* weights without cfm.estimator.* and no LoRA marker or lora_rank; "
                              "not a SoVITS file GPT-SoVITS wrote")
        return False, None
    rank = obj.get("lora_rank")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise GsvTrtError(f"{path}: a LoRA file (marker {head.decode(errors='replace')}) needs a positive integer "
                          f"'lora_rank', found {rank!r}")
    return True, rank


def _version(pretrained: tuple[str, str] | None, head: bytes, config: dict) -> tuple[str | None, str]:
    if pretrained is not None:
        return pretrained[0], f"upstream's pretrained {pretrained[1]} (MD5 of the first 8 KiB)"
    if head in MARKERS:
        return MARKERS[head][0], f"version marker {head.decode()}"
    model = config.get("model")
    recorded = model.get("version") if isinstance(model, dict) else None
    if recorded in HANDLED:
        return recorded, "config model.version"
    return None, "not recorded in the file"
