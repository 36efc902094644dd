"""From what the user passed (SoVITS weights, vocoder weights, runtime, precision, device) to a ready stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import GsvTrtError
from ..runtime.base import RuntimeInfo
from .runners import cfm_runner, resolve_runtime, vocoder_runner
from .stage import SynthesisStage

PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass
class OpenedStage:
    stage: SynthesisStage
    parts: dict[str, RuntimeInfo]  # "front end", "cfm", "vocoder" -> what runs it
    random: list[str]  # which parts hold random weights


def default_precision(device: torch.device) -> str:
    """fp32 on the CPU (upstream's default there), fp16 on a GPU (upstream's ``is_half``)."""
    return "fp16" if device.type == "cuda" else "fp32"


def open_stage(version: str, sovits_weights: str | Path = "random", vocoder_weights: str | Path = "random",
               runtime: str = "auto", precision: str | None = None, device: str | torch.device | None = None,
               gpt_sovits_root: str | Path | None = None, lora_base: str | Path | None = None) -> OpenedStage:
    """The stage of ``version``: front end and CFM from one SoVITS file (or random), the vocoder from its file (or
    random), each part on ``runtime`` ("auto": the fastest here) in ``precision`` (the front end stays fp32)."""
    from ..models.cfm.loader import load_cfm
    from ..models.sovits.frontend_loader import load_frontend
    from ..models.vocoder import load_vocoder

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GsvTrtError(f"device {device}: no CUDA GPU here")
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise GsvTrtError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    resolve_runtime(runtime, device)  # refuse before loading anything
    frontend = load_frontend(version, sovits_weights, gpt_sovits_root, lora_base)
    cfm = load_cfm(version, sovits_weights, gpt_sovits_root, lora_base)
    vocoder = load_vocoder(version, vocoder_weights,
                           gpt_sovits_root if vocoder_weights in (None, "random") else None)
    cfm_part = cfm_runner(cfm, runtime, precision, device)
    vocoder_part = vocoder_runner(vocoder, runtime, precision, device)
    stage = SynthesisStage(version, frontend.model, cfm_part, vocoder_part, device)
    parts = {"front end": RuntimeInfo("torch-eager", "fp32", cfm_part.info.device, frontend.provenance),
             "cfm": cfm_part.info, "vocoder": vocoder_part.info}
    random = [name for name, is_random in (("front end", frontend.is_random), ("cfm", cfm.is_random),
                                           ("vocoder", vocoder.is_random)) if is_random]
    return OpenedStage(stage, parts, random)
