"""From what the user passed (SoVITS weights, vocoder weights, runtime, precision, device) to a ready stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from ..errors import GsvTrtError
from ..models.cfm.config import FULL_DIT, DiTConfig
from ..runtime.base import RuntimeInfo
from .runners import EngineOptions, cfm_runner, frontend_runner, resolve_runtime, vocoder_runner
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


def _device(device: str | torch.device | None) -> torch.device:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GsvTrtError(f"device {device}: no CUDA GPU here")
    return device


def _precision(precision: str | None, device: torch.device) -> str:
    precision = precision or default_precision(device)
    if precision not in PRECISIONS:
        raise GsvTrtError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


def open_stage(version: str, sovits_weights: str | Path = "random", vocoder_weights: str | Path = "random",
               runtime: str = "auto", precision: str | None = None, device: str | torch.device | None = None,
               gpt_sovits_root: str | Path | None = None, lora_base: str | Path | None = None,
               engines: EngineOptions | None = None, *, cfm_config: DiTConfig = FULL_DIT) -> OpenedStage:
    """The stage of ``version``: front end and CFM from one SoVITS file, read once (or random), the vocoder from
    its file (or random), each part on ``runtime`` ("auto": the fastest here) in ``precision`` (the front end keeps
    fp32 tensors, with TF32 arithmetic on torch-fast unless ``precision`` is fp32). TensorRT and ONNX-Runtime files
    go to ``engines.out_dir`` (made there when missing). ``cfm_config``: a reduced-width CFM (tests)."""
    from ..models.cfm.loader import RANDOM, cfm_from_sovits, random_cfm
    from ..models.sovits.frontend_loader import frontend_from_sovits, random_frontend
    from ..models.sovits.weights import load_sovits_weights
    from ..models.vocoder import load_vocoder

    device = _device(device)
    precision = _precision(precision, device)
    resolve_runtime(runtime, device)  # refuse before loading anything
    if sovits_weights in (None, RANDOM) and gpt_sovits_root is None:
        if lora_base is not None:
            raise GsvTrtError(f"--lora-base {lora_base} needs a LoRA file as --sovits-weights")
        frontend, cfm = random_frontend(version), random_cfm(version, cfm_config)
    else:
        path = None if sovits_weights in (None, RANDOM) else sovits_weights
        sovits = load_sovits_weights(version, path, gpt_sovits_root, lora_base)
        frontend, cfm = frontend_from_sovits(sovits), cfm_from_sovits(sovits, cfm_config)
        del sovits  # the models hold fp32 copies; the file's tensors can go
    vocoder = load_vocoder(version, vocoder_weights,
                           gpt_sovits_root if vocoder_weights in (None, "random") else None)
    return _assemble(frontend, cfm, vocoder, runtime, precision, device, engines)


def stage_from_state_dicts(version: str, sovits_state: Mapping[str, torch.Tensor],
                           vocoder_state: Mapping[str, torch.Tensor], runtime: str = "auto",
                           precision: str | None = None, device: str | torch.device | None = None,
                           engines: EngineOptions | None = None, source: str = "memory", *,
                           cfm_config: DiTConfig = FULL_DIT, vocoder_config=None) -> OpenedStage:
    """The stage of weights GPT-SoVITS already holds in memory: ``sovits_state`` as ``vits_model.state_dict()``
    after its LoRA merge, ``vocoder_state`` as its vocoder module holds it after ``remove_weight_norm`` (any dtype
    and device; copied to fp32). Every part's provenance says "weights loaded by GPT-SoVITS from ``source``", and
    engines are keyed by a digest of these tensors. ``cfm_config`` / ``vocoder_config``: reduced widths (tests)."""
    from ..models.cfm.loader import cfm_from_state_dict
    from ..models.sovits.frontend import FEATURE_UPSAMPLE
    from ..models.sovits.frontend_loader import LoadedFrontEnd, build_frontend
    from ..models.vocoder.loader import vocoder_from_state_dict

    if version not in FEATURE_UPSAMPLE:
        raise GsvTrtError(f"version {version!r}: the synthesis stage is v3 or v4")
    device = _device(device)
    precision = _precision(precision, device)
    resolve_runtime(runtime, device)
    where = f"loaded by GPT-SoVITS from {source}"
    frontend = LoadedFrontEnd(build_frontend(version, sovits_state, where), version, where, False, where)
    cfm = cfm_from_state_dict(version, sovits_state, where, cfm_config)
    vocoder = vocoder_from_state_dict(version, vocoder_state, where, vocoder_config)
    return _assemble(frontend, cfm, vocoder, runtime, precision, device, engines)


def _assemble(frontend, cfm, vocoder, runtime: str, precision: str, device: torch.device,
              engines: EngineOptions | None) -> OpenedStage:
    cfm_part = cfm_runner(cfm, runtime, precision, device, engines)
    vocoder_part = vocoder_runner(vocoder, runtime, precision, device, engines)
    front, front_info = frontend_runner(frontend.model, runtime, device, frontend.provenance, precision)
    stage = SynthesisStage(cfm.version, front, cfm_part, vocoder_part, device)
    parts = {"front end": front_info, "cfm": cfm_part.info, "vocoder": vocoder_part.info}
    random = [name for name, is_random in (("front end", frontend.is_random), ("cfm", cfm.is_random),
                                           ("vocoder", vocoder.is_random)) if is_random]
    return OpenedStage(stage, parts, random)
