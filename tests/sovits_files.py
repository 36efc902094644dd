"""Test helper: SoVITS files written the way GPT-SoVITS writes them (process_ckpt.savee, my_save2), for a
reduced-width CFM, so the loader tests need neither upstream's code nor 733 MB files."""

from __future__ import annotations

import io
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import torch

from gsv_trt.models.cfm import CFM, DiTConfig
from gsv_trt.models.cfm.init import spread_init

SMALL_DIT = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=32, conv_layers=1)
LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]  # s2_train_v3_lora.py


def s2_config(version: str) -> dict:
    """The parts of upstream's s2.json hps that matter here, as webui records them for a training run."""
    return {"train": {"segment_size": 20480, "lora_rank": 32}, "data": {"sampling_rate": 32000, "hop_length": 640},
            "model": {"version": version, "semantic_frame_rate": "25hz", "gin_channels": 512}}


def small_cfm(seed: int) -> CFM:
    return spread_init(CFM(SMALL_DIT), seed).eval()


def sovits_weights(cfm: CFM) -> dict[str, torch.Tensor]:
    """A SoVITS state dict: the CFM under ``cfm.`` plus (reduced) front-end tensors with upstream's names."""
    torch.manual_seed(1)
    weights = {"cfm." + k: v for k, v in cfm.state_dict().items()}
    weights.update({"enc_p.text_embedding.weight": torch.randn(732, 8), "ref_enc.fc.fc.weight": torch.randn(8, 8),
                    "bridge.0.weight": torch.randn(8, 8, 1), "linear_mel.weight": torch.randn(100, 8, 1)})
    return weights


@contextmanager
def upstream_utils():
    """A module ``utils`` with a class ``HParams`` (upstream's GPT_SoVITS/utils.py), so objects pickle under that
    class path as training runs record it."""

    class HParams:
        def __init__(self, **kwargs):
            for key, value in kwargs.items():
                setattr(self, key, HParams(**value) if isinstance(value, dict) else value)

    HParams.__module__, HParams.__qualname__ = "utils", "HParams"
    module = types.ModuleType("utils")
    module.HParams = HParams
    saved = sys.modules.get("utils")
    sys.modules["utils"] = module
    try:
        yield HParams
    finally:
        if saved is None:
            del sys.modules["utils"]
        else:
            sys.modules["utils"] = saved


def write_sovits(path: Path, weights: dict[str, torch.Tensor], config: dict | None, head: bytes = b"PK",
                 lora_rank: int | None = None, hparams: bool = False) -> Path:
    """savee: fp16 weights, config (a dict or utils.HParams), info, [lora_rank]; my_save2's marker when ``head``."""
    ckpt = {"weight": {k: v.half() for k, v in weights.items()}, "config": config, "info": "8epoch_800iteration"}
    if lora_rank is not None:
        ckpt["lora_rank"] = lora_rank
    buffer = io.BytesIO()
    if hparams:
        with upstream_utils() as HParams:
            ckpt["config"] = HParams(**config)
            torch.save(ckpt, buffer)
    else:
        torch.save(ckpt, buffer)
    data = buffer.getvalue()
    path.write_bytes(head + data[2:])
    return path


class SovitsNet(torch.nn.Module):
    """The parts of SynthesizerTrnV3 a LoRA run touches: the CFM (wrapped by peft) and a trained style encoder."""

    def __init__(self, cfm: CFM):
        super().__init__()
        self.cfm = cfm
        self.ref_enc = torch.nn.Linear(8, 8)


def train_peft_lora(base_weights: dict[str, torch.Tensor], rank: int, seed: int):
    """What s2_train_v3_lora.py saves after training, with real peft: (LoRA file weights, net) — the LoRA tensors
    are random stand-ins for trained ones (peft starts lora_B at zero, which would merge to the base)."""
    from peft import LoraConfig, get_peft_model

    net = SovitsNet(CFM(SMALL_DIT))
    net.load_state_dict({k: v for k, v in base_weights.items() if k.startswith("cfm.")}, strict=False)
    net.cfm = get_peft_model(net.cfm, LoraConfig(target_modules=LORA_TARGETS, r=rank, lora_alpha=rank,
                                                 init_lora_weights=True))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    no_grad = {name for name, p in net.named_parameters() if not p.requires_grad}
    return {k: v.half() for k, v in net.state_dict().items() if k not in no_grad}


def peft_merged_cfm(base_weights: dict[str, torch.Tensor], lora_weights: dict[str, torch.Tensor],
                    rank: int) -> dict[str, torch.Tensor]:
    """TTS.init_vits_weights' LoRA path with real peft: base loaded, cfm wrapped, LoRA loaded, merge_and_unload."""
    from peft import LoraConfig, get_peft_model

    net = SovitsNet(CFM(SMALL_DIT))
    net.load_state_dict({k: v for k, v in base_weights.items() if k.startswith(("cfm.", "ref_enc."))},
                        strict=False)
    net.cfm = get_peft_model(net.cfm, LoraConfig(target_modules=LORA_TARGETS, r=rank, lora_alpha=rank,
                                                 init_lora_weights=True))
    net.load_state_dict(lora_weights, strict=False)
    net.cfm = net.cfm.merge_and_unload()
    return net.cfm.state_dict()
