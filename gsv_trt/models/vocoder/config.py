"""Hyper-parameters of the two vocoders and the facts that follow from them (hop, sample rate, mel settings).

v3 reads its ``config.json`` (NVIDIA's BigVGAN format); v4 has no config file upstream, so its constructor
arguments are the ones GPT-SoVITS hard-codes in ``TTS.init_vocoder``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import GsvTrtError


@dataclass(frozen=True)
class BigVGANConfig:
    """The fields of BigVGAN's config.json that define the v3 generator (the rest is training-only)."""

    num_mels: int = 100
    upsample_rates: tuple[int, ...] = (4, 4, 2, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (8, 8, 4, 4, 4, 4)
    upsample_initial_channel: int = 1536
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    resblock: str = "1"
    activation: str = "snakebeta"
    snake_logscale: bool = True
    use_tanh_at_final: bool = False
    use_bias_at_final: bool = False
    sampling_rate: int = 24000
    hop_size: int = 256
    n_fft: int = 1024
    win_size: int = 1024
    fmin: int = 0
    fmax: int | None = None

    @classmethod
    def from_json(cls, path: Path) -> "BigVGANConfig":
        """Parse upstream's config.json; unknown keys are ignored, unsupported variants refused."""
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GsvTrtError(f"{path}: no such file (a v3 vocoder directory holds config.json)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise GsvTrtError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise GsvTrtError(f"{path}: expected a JSON object of BigVGAN hyper-parameters")
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in raw.items() if k in known}
        missing = [k for k in ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel",
                               "resblock_kernel_sizes", "resblock_dilation_sizes", "num_mels") if k not in raw]
        if missing:
            raise GsvTrtError(f"{path}: not a BigVGAN config, missing {', '.join(missing)}")
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            kwargs[key] = tuple(kwargs[key])
        kwargs["resblock_dilation_sizes"] = tuple(tuple(d) for d in kwargs["resblock_dilation_sizes"])
        cfg = cls(**kwargs)
        problem = cfg.unsupported()
        if problem:
            raise GsvTrtError(f"{path}: {problem}")
        return cfg

    def unsupported(self) -> str | None:
        """Why this config is not a BigVGAN-v2 generator we implement, or None."""
        if self.resblock != "1":
            return f'resblock "{self.resblock}" is not supported (v3 uses AMPBlock1, resblock "1")'
        if self.activation != "snakebeta" or not self.snake_logscale:
            return "only SnakeBeta with log-scale alpha/beta is supported (v3 uses activation snakebeta, snake_logscale true)"
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            return "upsample_rates and upsample_kernel_sizes differ in length"
        if math.prod(self.upsample_rates) != self.hop_size:
            return f"upsample_rates multiply to {math.prod(self.upsample_rates)}, but hop_size is {self.hop_size}"
        return None

    def to_dict(self) -> dict:
        return asdict(self)


V3_CONFIG = BigVGANConfig()


@dataclass(frozen=True)
class GeneratorConfig:
    """Constructor arguments of GPT-SoVITS's v4 ``Generator`` (HiFi-GAN style, 48 kHz)."""

    initial_channel: int = 100
    upsample_rates: tuple[int, ...] = (10, 6, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (20, 12, 4, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    is_bias: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


V4_CONFIG = GeneratorConfig()


@dataclass(frozen=True)
class MelSettings:
    """How upstream computes the mel the vocoder expects (``mel_fn`` / ``mel_fn_v4`` in TTS.py)."""

    sampling_rate: int
    n_fft: int
    win_size: int
    hop_size: int
    num_mels: int = 100
    fmin: float = 0.0
    fmax: float | None = None
    clip_val: float = 1e-5


@dataclass(frozen=True)
class VocoderSpec:
    """Everything a later stage needs to know about a vocoder version without building it."""

    version: str
    hop: int  # output samples per mel frame
    sample_rate: int  # output audio rate
    mel: MelSettings  # the mel this vocoder consumes
    checkpoint_hint: str  # what the user passes with --weights
    pretrained_path: str  # where GPT-SoVITS keeps it under GPT_SoVITS/pretrained_models/
    extra: dict = field(default_factory=dict)


SPECS: dict[str, VocoderSpec] = {
    "v3": VocoderSpec(
        version="v3", hop=256, sample_rate=24000,
        mel=MelSettings(sampling_rate=24000, n_fft=1024, win_size=1024, hop_size=256),
        checkpoint_hint="a directory with config.json and bigvgan_generator.pt",
        pretrained_path="models--nvidia--bigvgan_v2_24khz_100band_256x",
    ),
    "v4": VocoderSpec(
        version="v4", hop=480, sample_rate=48000,
        mel=MelSettings(sampling_rate=32000, n_fft=1280, win_size=1280, hop_size=320),
        checkpoint_hint="vocoder.pth (a bare state dict)",
        pretrained_path="gsv-v4-pretrained/vocoder.pth",
    ),
}


def spec_for(version: str) -> VocoderSpec:
    """The spec of ``v3`` or ``v4``; anything else is a user error."""
    try:
        return SPECS[version]
    except KeyError:
        raise GsvTrtError(f"version {version!r}: expected v3 or v4") from None
