"""LoRA fine-tunes, merged into their base weights as upstream's peft ``merge_and_unload`` does, in our own code.

Training (s2_train_v3_lora.py) wraps the CFM with peft, ``LoraConfig(target_modules=["to_k", "to_q", "to_v",
"to_out.0"], r=lora_alpha=lora_rank)``, and saves every tensor of the SoVITS model that was not frozen, under the
wrapped model's names: ``cfm.base_model.model.<module>.lora_A.default.weight`` [r, in] and ``...lora_B.default.weight``
[out, r] for each attention projection, plus the SoVITS parts outside the CFM that were trained (style encoder,
``wns1``, ...). Loading (TTS.init_vits_weights) builds the model from the pretrained base file, loads the LoRA file
over it (``strict=False``: its tensors replace the base's), and merges each projection in fp32 (the model is fp32
then): ``W <- W + (B @ A) * (lora_alpha / r)``. :func:`merge_lora` gives the resulting state dict, bit-identical to
peft's (tests/test_cfm_loader.py writes LoRA files and merges them with real peft).
"""

from __future__ import annotations

import re

import torch

from ...errors import GsvTrtError
from .checkpoint import SovitsFile

PEFT_PREFIX = "cfm.base_model.model."
LORA_KEY = re.compile(r"(?P<module>.+)\.lora_(?P<half>[AB])\.(?P<adapter>[^.]+)\.weight")


def merge_lora(base: SovitsFile, lora: SovitsFile) -> dict[str, torch.Tensor]:
    """The SoVITS state dict upstream runs for ``lora`` on ``base``: merged projections fp32, the rest as stored."""
    if base.is_lora:
        raise GsvTrtError(f"{base.path}: is itself a LoRA file; the base of {lora.path.name} must be a full SoVITS "
                          "file (the pretrained s2Gv3.pth / s2Gv4.pth)")
    merged = dict(base.weights)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in lora.weights.items():
        if not key.startswith(PEFT_PREFIX):
            merged[key] = value  # trained SoVITS parts outside the CFM replace the base's
            continue
        found = LORA_KEY.fullmatch(key[len(PEFT_PREFIX):])
        if found is None:  # a non-LoRA tensor of the wrapped CFM: peft's "base_layer" is the plain module
            merged["cfm." + key[len(PEFT_PREFIX):].replace(".base_layer.", ".")] = value
            continue
        pairs.setdefault(found["module"], {})[found["half"]] = value
    if not pairs:
        raise GsvTrtError(f"{lora.path}: holds no LoRA tensors ({PEFT_PREFIX}...lora_A/lora_B)")
    for module, halves in sorted(pairs.items()):
        target = f"cfm.{module}.weight"
        merged[target] = _merged_weight(merged.get(target), halves, lora, target)
    return merged


def _merged_weight(weight: torch.Tensor | None, halves: dict[str, torch.Tensor], lora: SovitsFile,
                   target: str) -> torch.Tensor:
    if weight is None:
        raise GsvTrtError(f"{lora.path}: adapts {target}, which its base file does not have")
    if set(halves) != {"A", "B"}:
        missing = "lora_B" if "A" in halves else "lora_A"
        raise GsvTrtError(f"{lora.path}: the LoRA of {target} has no {missing} tensor")
    a, b = halves["A"].float(), halves["B"].float()
    if weight.dim() != 2:
        raise GsvTrtError(f"{lora.path}: adapts {target}, a {weight.dim()}-D tensor (LoRA targets linear layers)")
    out_features, in_features = weight.shape
    if a.shape != (lora.lora_rank, in_features) or b.shape != (out_features, lora.lora_rank):
        raise GsvTrtError(f"{lora.path}: LoRA of {target} has A {list(a.shape)} and B {list(b.shape)}; with rank "
                          f"{lora.lora_rank} on a {list(weight.shape)} weight expected A {[lora.lora_rank, in_features]}"
                          f" and B {[out_features, lora.lora_rank]}")
    return weight.float() + b @ a  # peft's scaling lora_alpha / r is 1: upstream sets lora_alpha = r
