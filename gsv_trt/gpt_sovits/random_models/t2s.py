"""The text-to-semantic model file (``s1v3.ckpt``) as upstream's training writes it, with random weights.

Layout (s1_train.py's checkpoint callback, read by ``TTS.init_t2s_weights``): a ``torch.save`` of
``{"weight": {"model.<name>": fp16 tensor}, "config": the s1 yaml as a dict, "info": str}``. Upstream builds
``Text2SemanticLightningModule(config)`` from the file's own ``config["model"]`` sizes, so these are reduced (the
real model: 512 wide, 24 layers); only the token vocabularies (1025 semantic tokens with EOS = 1024, 732 phones of
the v2 symbol table) and BERT's 1024-wide features are fixed by the rest of the pipeline. ``full_size`` writes
upstream's real size instead (``FULL_MODEL``, s1longer-v2.yaml: 77 M parameters), for benchmarks, where the
autoregressive decoder's share of a request depends on it. ``data.max_sec`` caps the
semantic tokens a request generates at ``50 * max_sec`` (random weights seldom sample EOS), so it sets how much
audio a test request makes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...models.sovits.random_weights import seeded_state_dict
from ..upstream import use_checkout
from .schema import state_shapes

SEED = 1
MODEL = {"vocab_size": 1025, "phoneme_vocab_size": 732, "embedding_dim": 128, "hidden_dim": 128, "head": 4,
         "linear_units": 512, "n_layer": 2, "dropout": 0, "EOS": 1024, "random_bert": 0}
FULL_MODEL = {**MODEL, "embedding_dim": 512, "hidden_dim": 512, "head": 16, "linear_units": 2048, "n_layer": 24}
INFO = "RANDOM weights written by gsv-trt (not a trained model)"


def t2s_config(max_sec: float, full_size: bool = False) -> dict:
    """The parts of upstream's s1 yaml that inference reads, plus its training sections' shape."""
    return {"train": {"seed": 1234, "epochs": 1, "batch_size": 8, "precision": "16-mixed"},
            "data": {"max_sec": max_sec, "pad_val": 1024}, "model": dict(FULL_MODEL if full_size else MODEL),
            "inference": {"top_k": 15}}


def t2s_weights(root: Path, config: dict, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Every tensor of the checkout's Text2SemanticLightningModule for ``config``, fp32."""
    with use_checkout(root):
        from AR.models.t2s_lightning_module import Text2SemanticLightningModule

        shapes = state_shapes(lambda: Text2SemanticLightningModule(config, "****", is_train=False))
    weights = seeded_state_dict(shapes, seed)  # fan-in scaled: activations stay O(1) through the layers
    rng = np.random.default_rng(seed)
    for name, shape in shapes.items():
        if name.endswith(("norm1.weight", "norm2.weight")):
            weights[name] = torch.from_numpy(rng.uniform(0.8, 1.2, shape).astype(np.float32))
        elif name.endswith("position.alpha"):
            weights[name] = torch.ones(shape)  # upstream's init; scales the sine position table
    return weights


def write_t2s(root: Path, path: Path, max_sec: float = 1.0, seed: int = SEED, full_size: bool = False) -> Path:
    """Write ``path`` (upstream's default: ``GPT_SoVITS/pretrained_models/s1v3.ckpt``) for the checkout ``root``."""
    config = t2s_config(max_sec, full_size)
    weights = {name: tensor.half() for name, tensor in t2s_weights(root, config, seed).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": weights, "config": config, "info": INFO}, path)
    return path
