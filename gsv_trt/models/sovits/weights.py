"""From what the user passed (--sovits-weights, --gpt-sovits-root, --lora-base) to the SoVITS weights a model holds.

A LoRA file holds deltas only: it runs on the pretrained file of its version (upstream takes
``GPT_SoVITS/pretrained_models/s2Gv3.pth`` or ``gsv-v4-pretrained/s2Gv4.pth``; so do we with --gpt-sovits-root,
or from --lora-base FILE), merged as :func:`merge_lora` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import GsvTrtError
from .checkpoint import HANDLED, SovitsFile, read_sovits
from .lora import merge_lora
from .pretrained import PRETRAINED_FILES, find_pretrained


@dataclass(frozen=True)
class SovitsWeights:
    """The state dict upstream would run (LoRA merged), its version, and which files it came from."""

    weights: dict[str, torch.Tensor]
    version: str
    file: SovitsFile  # the file the user named (the LoRA file for a fine-tune)
    base: SovitsFile | None  # the pretrained base of a LoRA file

    @property
    def source(self) -> str:
        """E.g. "a.pth (v4 LoRA (rank 32) on s2Gv4.pth)"; says when the version was taken on trust."""
        what = self.file.kind if self.file.version else f"{self.version}, from --version"
        if self.base is not None:
            what += f" on {self.base.path}"
        return f"{self.file.path} ({what})"


def load_sovits_weights(version: str, sovits_weights: str | Path | None = None,
                        gpt_sovits_root: str | Path | None = None,
                        lora_base: str | Path | None = None) -> SovitsWeights:
    """Read ``sovits_weights`` (default: the pretrained file of ``version`` under ``gpt_sovits_root``), checked
    against ``version``; a LoRA file is merged onto ``lora_base`` or the pretrained file under ``gpt_sovits_root``."""
    if version not in HANDLED:
        raise GsvTrtError(f"version {version!r}: gsv-trt handles v3 and v4")
    if sovits_weights is None:
        if gpt_sovits_root is None:
            raise GsvTrtError("no SoVITS weights given: pass --sovits-weights FILE or --gpt-sovits-root DIR")
        sovits_weights = find_pretrained(version, gpt_sovits_root)
    file = _checked(read_sovits(sovits_weights), version)
    if not file.is_lora:
        if lora_base is not None:
            raise GsvTrtError(f"{file.path}: not a LoRA file, so --lora-base {lora_base} does not apply")
        return SovitsWeights(file.weights, version, file, None)
    if lora_base is None and gpt_sovits_root is None:
        raise GsvTrtError(f"{file.path}: a {file.kind} file holds only the fine-tuned deltas; give its base with "
                          f"--lora-base FILE or --gpt-sovits-root DIR (upstream uses "
                          f"GPT_SoVITS/pretrained_models/{PRETRAINED_FILES[version]})")
    base = _checked(read_sovits(lora_base if lora_base is not None else find_pretrained(version, gpt_sovits_root)),
                    version)
    return SovitsWeights(merge_lora(base, file), version, file, base)


def _checked(file: SovitsFile, version: str) -> SovitsFile:
    if file.version is not None and file.version != version:
        raise GsvTrtError(f"{file.path}: this is a {file.kind} SoVITS file ({file.version_source}), but --version is "
                          f"{version}")
    return file
