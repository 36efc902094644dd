"""One entry point from "what the user passed" (--weights / --gpt-sovits-root) to an fp32 eval model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ...errors import GsvTrtError
from .bigvgan import BigVGAN
from .checkpoint import V3_CHECKPOINT, V3_CONFIG_FILE, V4_CHECKPOINT, detect_version, fold_weight_norm
from ..strict_load import load_strict
from ..uninitialised import uninitialised
from .checkpoint import read_checkpoint, sha256_of, unwrap_state_dict
from .config import V3_CONFIG, V4_CONFIG, BigVGANConfig, GeneratorConfig, VocoderSpec, spec_for
from .generator import Generator
from .init import GAINS, spread_like_trained

RANDOM = "random"
RANDOM_SEED = 0
# what every output made with random weights says; calibrations record it, so a change of random weights shows
RANDOM_PROVENANCE = f"RANDOM weights (architecture-exact, seed {RANDOM_SEED}, trained-like scales; not a trained vocoder)"


@dataclass
class LoadedVocoder:
    """A vocoder ready to run (fp32, eval, CPU) and where its weights came from."""

    model: nn.Module
    spec: VocoderSpec
    weights: str  # "random" or the checkpoint path
    weights_sha256: str  # "random" or sha256 of the checkpoint bytes
    config: dict

    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM

    @property
    def provenance(self) -> str:
        """The phrase every output carries to say which weights produced it."""
        if self.is_random:
            return RANDOM_PROVENANCE
        return f"weights {self.weights} (sha256 {self.weights_sha256[:12]})"


def build_model(version: str, config: BigVGANConfig | None = None) -> nn.Module:
    """An untrained model of ``version`` (upstream's init); v3 may take a non-default BigVGAN config."""
    if version == "v3":
        return BigVGAN(config or V3_CONFIG)
    if version == "v4":
        return Generator(V4_CONFIG)
    spec_for(version)  # raises the standard error
    raise AssertionError


def random_vocoder(version: str, seed: int = RANDOM_SEED) -> LoadedVocoder:
    """Architecture-exact model with random weights from a fixed seed, spread like a trained vocoder's so that
    its output depends on its input (models/vocoder/init.py says how, and the criterion)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(version)
    spread_like_trained(model, torch.Generator().manual_seed(seed), GAINS[version])
    cfg = V3_CONFIG.to_dict() if version == "v3" else V4_CONFIG.to_dict()
    return LoadedVocoder(model.eval(), spec_for(version), RANDOM, RANDOM, cfg)


def find_in_gpt_sovits(version: str, root: Path) -> Path:
    """The vocoder inside a GPT-SoVITS checkout (``GPT_SoVITS/pretrained_models/...``)."""
    rel = spec_for(version).pretrained_path
    root = Path(root)
    candidates = [root / "GPT_SoVITS" / "pretrained_models" / rel, root / "pretrained_models" / rel, root / rel]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise GsvTrtError(f"{root}: no {version} vocoder found at GPT_SoVITS/pretrained_models/{rel}")


V3_LAYOUT = f"a v3 vocoder is a directory holding {V3_CONFIG_FILE} + {V3_CHECKPOINT}"
V4_LAYOUT = f"a v4 vocoder is a file, {V4_CHECKPOINT} (a bare state dict)"


def load_v3(path: Path) -> LoadedVocoder:
    directory = path if path.is_dir() else path.parent
    ckpt_path = directory / V3_CHECKPOINT if path.is_dir() else path
    cfg_path = directory / V3_CONFIG_FILE
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file or directory")
    if not cfg_path.exists():
        if path.is_file() and unwrap_version(path) == "v4":
            raise GsvTrtError(f"{path}: is a v4 vocoder checkpoint, but --version is v3 ({V3_LAYOUT})")
        if path.is_dir() and (path / V4_CHECKPOINT).is_file():
            raise GsvTrtError(f"{path}: holds a v4 vocoder ({V4_CHECKPOINT}), but --version is v3 ({V3_LAYOUT})")
        raise GsvTrtError(f"{cfg_path}: no such file ({V3_LAYOUT})")
    cfg = BigVGANConfig.from_json(cfg_path)
    if (cfg.num_mels, cfg.sampling_rate, cfg.hop_size) != (100, 24000, 256):
        raise GsvTrtError(
            f"{cfg_path}: describes a {cfg.sampling_rate} Hz, {cfg.num_mels}-band, hop {cfg.hop_size} BigVGAN; "
            "GPT-SoVITS v3 uses bigvgan_v2_24khz_100band_256x (24000 Hz, 100 bands, hop 256)"
        )
    state = fold_weight_norm(unwrap_state_dict(read_checkpoint(ckpt_path), ckpt_path, "v3"))
    model = uninitialised(lambda: BigVGAN(cfg))
    load_strict(model, {k: v.float() for k, v in state.items()}, ckpt_path,
                f"the BigVGAN described by {cfg_path.name}")
    return LoadedVocoder(model.eval(), spec_for("v3"), str(ckpt_path), sha256_of(cfg_path, ckpt_path), cfg.to_dict())


def load_v4(path: Path) -> LoadedVocoder:
    if path.is_dir():
        if not (path / V4_CHECKPOINT).exists() and (path / V3_CONFIG_FILE).is_file():
            raise GsvTrtError(f"{path}: is a v3 vocoder directory ({V3_CONFIG_FILE} + {V3_CHECKPOINT}), but "
                              f"--version is v4 ({V4_LAYOUT})")
        path = path / V4_CHECKPOINT
    state = fold_weight_norm(unwrap_state_dict(read_checkpoint(path), path, "v4"))
    model = uninitialised(lambda: Generator(V4_CONFIG))
    load_strict(model, {k: v.float() for k, v in state.items()}, path, "the v4 Generator")
    return LoadedVocoder(model.eval(), spec_for("v4"), str(path), sha256_of(path), V4_CONFIG.to_dict())


def vocoder_from_state_dict(version: str, state: Mapping[str, torch.Tensor], source: str,
                            config: BigVGANConfig | GeneratorConfig | None = None) -> LoadedVocoder:
    """The ``version`` vocoder from a state dict held in memory, as upstream's vocoder module holds it (after
    ``remove_weight_norm``; weight-norm pairs are folded too), copied to fp32 on the CPU and loaded strictly.
    ``source`` says where it came from ("loaded by GPT-SoVITS from ..."); ``weights_sha256`` is a digest of the
    loaded tensors. ``config``: the version's own unless given (tests use reduced widths)."""
    from ..cfm.loader import state_digest  # the CFM's digest; imported here as models.cfm imports this package

    spec = spec_for(version)
    config = config or (V3_CONFIG if version == "v3" else V4_CONFIG)
    model = uninitialised(lambda: BigVGAN(config) if version == "v3" else Generator(config))
    tensors = {k: v.detach().to("cpu", torch.float32, copy=True) for k, v in state.items()}
    load_strict(model, fold_weight_norm(tensors), source, f"the {version} vocoder")
    return LoadedVocoder(model.eval(), spec, source, state_digest(model), config.to_dict())


def unwrap_version(path: Path) -> str | None:
    """Which vocoder a checkpoint file holds (v3, v4), or None when it is no vocoder checkpoint at all."""
    try:
        obj = read_checkpoint(path)
    except GsvTrtError:
        return None
    if isinstance(obj, dict) and isinstance(obj.get("generator"), dict):
        obj = obj["generator"]
    return detect_version(obj) if isinstance(obj, dict) else None


def load_vocoder(version: str, weights: str | Path | None = RANDOM, gpt_sovits_root: str | Path | None = None) -> LoadedVocoder:
    """Load the ``version`` vocoder from ``weights`` (a path or "random") or from a GPT-SoVITS checkout."""
    spec_for(version)
    if gpt_sovits_root is not None:
        if weights not in (None, RANDOM):
            raise GsvTrtError("give either --weights or --gpt-sovits-root, not both")
        weights = find_in_gpt_sovits(version, Path(gpt_sovits_root))
    if weights in (None, RANDOM):
        return random_vocoder(version)
    path = Path(weights)
    return load_v3(path) if version == "v3" else load_v4(path)
