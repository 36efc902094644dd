"""SoVITS v3/v4 files (``s2Gv3.pth``, ``gsv-v4-pretrained/s2Gv4.pth``, LoRA fine-tunes) in upstream's layout.

Layout (process_ckpt.savee): a ``torch.save`` of ``{"weight": {name: fp16 tensor}, "config": hps, "info": str}``,
plus ``"lora_rank"`` for LoRA files. Full files start with the zip's ``PK`` (my_save); LoRA files have those two
bytes replaced by a version marker (my_save2: ``03`` = v3 LoRA, ``04`` = v4 LoRA). ``hps`` is the checkout's
``configs/s2.json`` with ``model.version`` set, as the training webui records it (a dict here; training runs pickle
``utils.HParams``, which upstream reads the same way).

Which version upstream takes a file for (get_sovits_version_from_path_fast): the MD5 of the first 8 KiB against
its pretrained files, then the marker, then the size (> 700 MiB: v3). A random full file matches no MD5 and is
733 MiB, so upstream takes it for v3 whatever it holds: a v4 model is reached only as a LoRA file (``04``), loaded
onto the v4 base at upstream's default path, which is also how v4 fine-tunes reach users.

Sizes: SynthesizerTrnV3 hard-codes its CFM (DiT 1024 wide, 22 blocks) and most other widths, so the files are full
size (384 M values, 685 tensors). The CFM's values come from the project's own CFM with ``spread_init`` (its
output depends on every input), every other tensor from ``seeded_state_dict``; names and shapes are read off the
checkout's own class, and the CFM's must equal ours.

LoRA (s2_train_v3_lora.py): peft wraps the CFM (``target_modules`` to_k, to_q, to_v, to_out.0; r = lora_alpha =
rank) and the trainable tensors are saved as ``cfm.base_model.model.<module>.lora_A.default.weight`` [r, in] and
``...lora_B.default.weight`` [out, r]. peft starts lora_B at zero (a merge that changes nothing); here both are
random, so the merge moves every projection by about 10 %. (Real LoRA files also carry the style encoder and other
SoVITS parts that training left unfrozen; these carry the LoRA tensors only, the rest comes from the base.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from ...errors import GsvTrtError
from ...models.cfm import CFM, FULL_DIT
from ...models.cfm.init import spread_init
from ...models.sovits.random_weights import seeded_state_dict
from ..upstream import use_checkout
from .schema import state_shapes

SEEDS = {"v3": 3, "v4": 4}
LORA_SEEDS = {"v3": 13, "v4": 14}
LORA_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
LORA_MARKER = {"v3": b"03", "v4": b"04"}
LORA_B_GAIN = 0.1  # merged delta ~ 10 % of each projection
PEFT_PREFIX = "cfm.base_model.model."
INFO = "RANDOM weights written by gsv-trt (not a trained model)"


def sovits_hps(root: Path, version: str) -> dict:
    """The checkout's s2.json as a training run records it for a ``version`` model."""
    hps = json.loads((root / "GPT_SoVITS" / "configs" / "s2.json").read_text())
    hps["model"]["version"] = version
    return hps


def sovits_shapes(root: Path, hps: dict) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the checkout's SynthesizerTrnV3, built with the arguments TTS.init_vits_weights uses."""
    with use_checkout(root):
        from module.models import SynthesizerTrnV3

        data, model = hps["data"], dict(hps["model"])
        return state_shapes(lambda: SynthesizerTrnV3(data["filter_length"] // 2 + 1,
                                                     hps["train"]["segment_size"] // data["hop_length"],
                                                     n_speakers=data["n_speakers"], **model))


def sovits_weights(root: Path, version: str, seed: int) -> tuple[dict[str, torch.Tensor], dict]:
    """(fp32 state dict of a random full ``version`` SoVITS model, its hps) for the checkout ``root``."""
    hps = sovits_hps(root, version)
    shapes = sovits_shapes(root, hps)
    with torch.random.fork_rng(devices=[]):
        cfm = spread_init(CFM(FULL_DIT), seed)
    weights = {"cfm." + name: tensor for name, tensor in cfm.state_dict().items()}
    theirs = {name: shape for name, shape in shapes.items() if name.startswith("cfm.")}
    ours = {name: tuple(tensor.shape) for name, tensor in weights.items()}
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))
        raise GsvTrtError(f"{root}: the checkout's CFM differs from gsv-trt's ({len(diff)} names/shapes, first: "
                          f"{diff[0][0]})")
    weights.update(seeded_state_dict({k: v for k, v in shapes.items() if k not in theirs}, seed))
    return weights, hps


def write_savee(path: Path, weights: dict[str, torch.Tensor], hps: dict, marker: bytes = b"PK",
                lora_rank: int | None = None) -> Path:
    """What process_ckpt.savee writes: fp16 weights, config, info [, lora_rank], ``marker`` as the first 2 bytes."""
    ckpt = {"weight": {name: tensor.half() for name, tensor in weights.items()}, "config": hps, "info": INFO}
    if lora_rank is not None:
        ckpt["lora_rank"] = lora_rank
    path.parent.mkdir(parents=True, exist_ok=True)
    if marker == b"PK":  # my_save: a plain torch.save zip
        torch.save(ckpt, path)
        return path
    buffer = io.BytesIO()  # my_save2
    torch.save(ckpt, buffer)
    path.write_bytes(marker + buffer.getvalue()[2:])
    return path


def write_sovits_base(root: Path, path: Path, version: str) -> Path:
    """A full random ``version`` SoVITS file (the stand-in for upstream's pretrained s2Gv3.pth / s2Gv4.pth)."""
    weights, hps = sovits_weights(root, version, SEEDS[version])
    return write_savee(path, weights, hps)


def lora_weights(shapes: dict[str, tuple[int, ...]], rank: int, seed: int) -> dict[str, torch.Tensor]:
    """lora_A / lora_B for every peft target projection of the CFM, under peft's names."""
    out = {}
    for name, shape in shapes.items():
        module = name.removesuffix(".weight")
        if not (name.startswith("cfm.") and name.endswith(".weight") and module.endswith(tuple("." + t for t in LORA_TARGETS))):
            continue
        rng = np.random.default_rng([seed, len(out)])
        n_out, n_in = shape
        prefix = PEFT_PREFIX + module.removeprefix("cfm.")
        a_half, b_half = (3 / n_in) ** 0.5, LORA_B_GAIN * (3 / rank) ** 0.5
        out[f"{prefix}.lora_A.default.weight"] = torch.from_numpy(rng.uniform(-a_half, a_half, (rank, n_in)))
        out[f"{prefix}.lora_B.default.weight"] = torch.from_numpy(rng.uniform(-b_half, b_half, (n_out, rank)))
    return {name: tensor.float() for name, tensor in out.items()}


def write_sovits_lora(root: Path, path: Path, version: str, rank: int = 8) -> Path:
    """A random ``version`` LoRA fine-tune (needs the base of its version at upstream's default path to load)."""
    hps = sovits_hps(root, version)
    hps["train"]["lora_rank"] = rank
    weights = lora_weights(sovits_shapes(root, hps), rank, LORA_SEEDS[version])
    return write_savee(path, weights, hps, LORA_MARKER[version], lora_rank=rank)
