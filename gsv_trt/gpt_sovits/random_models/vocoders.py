"""The two vocoders where TTS.init_vocoder loads them, with the project's random weights (full size: upstream
hard-codes both architectures).

v3: directory ``models--nvidia--bigvgan_v2_24khz_100band_256x`` with ``config.json`` and ``bigvgan_generator.pt`` =
``{"generator": state_dict}``; the state dict has weight norm removed, which upstream's ``BigVGAN.from_pretrained``
accepts (it warns, removes weight norm from its model and loads again). v4: ``gsv-v4-pretrained/vocoder.pth``, a bare
state dict without weight norm (upstream removes weight norm before loading it).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...models.vocoder.loader import random_vocoder

V3_DIR = "models--nvidia--bigvgan_v2_24khz_100band_256x"
V4_FILE = "gsv-v4-pretrained/vocoder.pth"


def write_vocoder(pretrained_models: Path, version: str) -> Path:
    """Write the ``version`` vocoder under ``pretrained_models``; returns the directory (v3) or file (v4)."""
    loaded = random_vocoder(version)
    if version == "v3":
        out = pretrained_models / V3_DIR
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(loaded.config, indent=2))
        torch.save({"generator": loaded.model.state_dict()}, out / "bigvgan_generator.pt")
        return out
    out = pretrained_models / V4_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(loaded.model.state_dict(), out)
    return out
