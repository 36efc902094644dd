"""One entry point from "what the user passed" (--sovits-weights / --gpt-sovits-root / --lora-base) to an fp32 CFM.

Only the ``cfm.*`` tensors of a SoVITS file are taken (LoRA merged first), loaded strictly. ``weights_sha256`` is a
digest of the weights the model then holds, so that every fine-tune (every LoRA on the same base too) gets its own
engine: SHA-256 over the model's fp32 state dict in sorted name order, for each tensor its name, dtype, shape and
raw bytes (:func:`state_digest`). Random weights get a digest of the same kind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from ...errors import GsvTrtError
from ..sovits.weights import SovitsWeights, load_sovits_weights
from ..strict_load import load_strict
from .cfm import CFM
from .config import CFM_SHAPES, FULL_DIT, DiTConfig
from .init import spread_init

RANDOM = "random"
RANDOM_SEED = 0
CFM_PREFIX = "cfm."


@dataclass
class LoadedCFM:
    """A CFM ready to run (fp32, eval, CPU) and where its weights came from."""

    model: CFM
    version: str
    weights: str  # "random" or the SoVITS file the user named
    weights_sha256: str  # state_digest of the model's weights
    is_random: bool
    source: str = ""  # for files: which file(s), what kind, LoRA base

    @property
    def provenance(self) -> str:
        """The phrase every output carries to say which weights produced it."""
        if self.is_random:
            return (f"RANDOM weights (architecture-exact {self.version} CFM, seed {RANDOM_SEED}; not a trained model; "
                    f"sha256 {self.weights_sha256[:12]})")
        return f"weights {self.source} (cfm sha256 {self.weights_sha256[:12]})"


def state_digest(model: torch.nn.Module) -> str:
    """SHA-256 over (name, dtype, shape, bytes) of every tensor of ``model.state_dict()``, in sorted name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy() if tensor.numel() else b"")
    return digest.hexdigest()


def load_cfm(version: str, sovits_weights: str | Path | None = RANDOM, gpt_sovits_root: str | Path | None = None,
             lora_base: str | Path | None = None, config: DiTConfig = FULL_DIT) -> LoadedCFM:
    """The ``version`` CFM from a SoVITS file (LoRA merged onto its base), from the pretrained file under
    ``gpt_sovits_root``, or with random weights ("random"); fp32, eval mode, CPU. ``config`` other than the full
    DiT is for tests (reduced-width files)."""
    if version not in CFM_SHAPES:
        raise GsvTrtError(f"version {version!r}: the CFM exists in v3 and v4")
    path = None if sovits_weights in (None, RANDOM) else sovits_weights
    if path is None and gpt_sovits_root is None:
        if lora_base is not None:
            raise GsvTrtError(f"--lora-base {lora_base} needs a LoRA file as --sovits-weights")
        return random_cfm(version, config)
    return cfm_from_sovits(load_sovits_weights(version, path, gpt_sovits_root, lora_base), config)


def cfm_from_sovits(sovits: SovitsWeights, config: DiTConfig = FULL_DIT) -> LoadedCFM:
    """The CFM of already-read SoVITS weights (the synthesis stage reads the file once for CFM and front end)."""
    model = _cfm_of(sovits.weights, sovits.file.path, config)
    return LoadedCFM(model, sovits.version, str(sovits.file.path), state_digest(model), False, sovits.source)


def cfm_from_state_dict(version: str, sovits_state: Mapping[str, torch.Tensor], source: str,
                        config: DiTConfig = FULL_DIT) -> LoadedCFM:
    """The CFM of a SoVITS state dict held in memory, as upstream's ``vits_model.state_dict()`` gives it after its
    LoRA merge (any dtype or device; copied to fp32 on the CPU). ``source`` says where the weights came from, e.g.
    "loaded by GPT-SoVITS from s2Gv4.pth"; errors name it."""
    if version not in CFM_SHAPES:
        raise GsvTrtError(f"version {version!r}: the CFM exists in v3 and v4")
    model = _cfm_of(sovits_state, source, config)
    return LoadedCFM(model, version, source, state_digest(model), False, source)


def _cfm_of(weights: Mapping[str, torch.Tensor], source: str | Path, config: DiTConfig) -> CFM:
    """The ``cfm.*`` tensors of ``weights`` in a CFM of ``config``, loaded strictly (fp32 copies, CPU)."""
    state = {k[len(CFM_PREFIX):]: v.detach().to("cpu", torch.float32, copy=True)
             for k, v in weights.items() if k.startswith(CFM_PREFIX)}
    model = _untrained(config)
    what = "the CFM" if config == FULL_DIT else f"the CFM of {config}"
    load_strict(model, state, source, what)
    return model.eval()


def random_cfm(version: str, config: DiTConfig = FULL_DIT) -> LoadedCFM:
    """Architecture-exact CFM with ``spread_init`` weights: deterministic, and the output depends on the input."""
    model = spread_init(_untrained(config), RANDOM_SEED).eval()
    return LoadedCFM(model, version, RANDOM, state_digest(model), True)


def _untrained(config: DiTConfig) -> CFM:
    """A CFM with torch's default init, built without moving the caller's random state (its noise draws)."""
    with torch.random.fork_rng(devices=[]):
        return CFM(config)
