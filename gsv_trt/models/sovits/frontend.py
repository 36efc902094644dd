"""The SoVITS v3/v4 front end: semantic tokens + phones + reference spectrogram -> the CFM's condition ``fea``.

Everything upstream's ``SynthesizerTrnV3.decode_encp`` runs — residual-VQ decode, text encoder with MRTE, the
reference style encoder, ``bridge``, the WN encoder ``wns1`` and the speed resampling — with upstream's module
names, so the non-CFM part of ``s2Gv3.pth`` / ``s2Gv4.pth`` loads strictly (see frontend_loader.py). v3 and v4
differ only in how many feature frames a token becomes: 3.75 (93.75 frames/s, v3) or 4 (100 frames/s, v4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import GsvTrtError
from .quantize import ResidualQuantizer
from .style_encoder import MelStyleEncoder
from .text_encoder import TextEncoder
from .validate import check_codes, check_phones, check_speed
from .wn import WNEncoder

# content frames per feature frame after bridge (v3: 50 -> 93.75 frames/s, v4: 50 -> 100)
FEATURE_UPSAMPLE = {"v3": 1.875, "v4": 2}
# upstream's wns1 mask length per token (3.875 / 4 feature frames); see valid_feature_frames()
MASK_FRAMES_PER_TOKEN = {"v3": 3.875, "v4": 4}


@dataclass(frozen=True)
class FrontEndConfig:
    """The s2.json sizes every v3/v4 checkpoint shares (SynthesizerTrnV3 hard-codes most of them). Tests use
    narrower ones; the input formats (codebook, symbols, spectrogram bins) stay."""

    ssl_dim: int = 768  # semantic feature width (HuBERT)
    codebook_bins: int = 1024
    n_quantizers: int = 1
    n_symbols: int = 732  # v2 symbol table (text/symbols2.py); v3/v4 always use it
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    style_hidden: int = 128  # ref_enc's width
    style_bins: int = 704  # the reference spectrogram bins ref_enc reads (of 1025)
    spec_bins: int = 1025  # n_fft 2048 // 2 + 1
    gin_channels: int = 512  # style vector ge; also MRTE's width (ge is added inside it)
    fea_channels: int = 512  # the CFM's text_dim


FULL_FRONTEND = FrontEndConfig()


def _check_version(version: str) -> None:
    if version not in FEATURE_UPSAMPLE:
        raise GsvTrtError(f"version {version!r}: the SoVITS front end is v3 or v4")


def content_frames(n_tokens: int, speed: float = 1.0) -> int:
    """Frames of the text encoder's output for ``n_tokens`` 25 Hz tokens: 2 per token, resampled by speed."""
    frames = 2 * n_tokens
    return frames if speed == 1 else int(frames / speed) + 1


def feature_frames(n_tokens: int, version: str, speed: float = 1.0) -> int:
    """Length of ``decode_encp``'s ``fea`` for ``n_tokens`` tokens (speed 1: 3.75 / 4 per token, rounded down)."""
    _check_version(version)
    return math.floor(content_frames(n_tokens, speed) * FEATURE_UPSAMPLE[version])


def valid_feature_frames(n_tokens: int, version: str, speed: float = 1.0) -> int:
    """How many leading ``fea`` frames upstream's wns1 mask keeps; later ones are zero. Equal to feature_frames
    except for some speed != 1 cases (v4 often, v3 for very short inputs), where the last frame is masked."""
    rate = MASK_FRAMES_PER_TOKEN[version]
    length = int(n_tokens * rate) if speed == 1 else int(n_tokens * rate / speed) + 1
    return min(length, feature_frames(n_tokens, version, speed))


class SovitsFrontEnd(nn.Module):
    """What the synthesis stage runs before the CFM (fp32 or fp16 like any module; CPU or CUDA)."""

    def __init__(self, version: str, cfg: FrontEndConfig = FULL_FRONTEND):
        super().__init__()
        _check_version(version)
        self.version = version
        self.cfg = cfg
        self.enc_p = TextEncoder(cfg.n_symbols, cfg.ssl_dim, cfg.hidden_channels, cfg.filter_channels,
                                 cfg.n_heads, cfg.n_layers, cfg.kernel_size, cfg.gin_channels)
        self.ref_enc = MelStyleEncoder(cfg.style_bins, cfg.style_hidden, cfg.gin_channels)
        self.quantizer = ResidualQuantizer(cfg.ssl_dim, cfg.n_quantizers, cfg.codebook_bins)
        self.bridge = nn.Sequential(nn.Conv1d(cfg.hidden_channels, cfg.fea_channels, 1), nn.LeakyReLU())
        self.wns1 = WNEncoder(cfg.fea_channels, gin_channels=cfg.gin_channels)

    @torch.no_grad()
    def ref_style(self, refer_spec: torch.Tensor) -> torch.Tensor:
        """Reference linear spectrogram [B, 1025, T] (32 kHz, hop 640) -> style vector ge [B, 512, 1]."""
        shape = list(refer_spec.shape)
        if refer_spec.dim() != 3 or shape[1] != self.cfg.spec_bins or shape[2] < 1:
            raise GsvTrtError(f"refer_spec: expected shape [B, {self.cfg.spec_bins}, T >= 1], got {shape}")
        return self.ref_enc(refer_spec[:, : self.cfg.style_bins])

    def check_ids(self, codes: torch.Tensor, phones: torch.Tensor) -> None:
        """codes [1, B, T] and phones [B, T_ph]: shapes, and every id inside the codebook / symbol table when the
        tensor is in host memory (reading a GPU tensor's values would sync the device: check ids on the host where
        they arrive, before they go to the GPU, as the synthesis stage does)."""
        check_codes(codes, self.cfg.codebook_bins, values=codes.device.type == "cpu")
        check_phones(phones, self.cfg.n_symbols, values=phones.device.type == "cpu")
        if codes.shape[1] != phones.shape[0]:
            raise GsvTrtError(f"phones: batch {phones.shape[0]} differs from the codes' batch {codes.shape[1]}")

    @torch.no_grad()
    def decode_encp(self, codes: torch.Tensor, phones: torch.Tensor, refer_spec: torch.Tensor | None,
                    ge: torch.Tensor | None = None, speed: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """codes [1, B, T] semantic tokens, phones [B, T_ph] -> (fea [B, 512, feature_frames(T)], ge).

        ``ge`` from an earlier call (the prompt's) skips the style encoder, as upstream does for targets; then
        ``refer_spec`` may be None. ``speed`` > 1 makes fewer frames (faster speech). No device sync: id values are
        checked only for tensors in host memory (``check_ids``)."""
        self.check_ids(codes, phones)
        check_speed(speed)
        if ge is None:
            if refer_spec is None:
                raise GsvTrtError("refer_spec: needed when no style vector ge is given")
            ge = self.ref_style(refer_spec)
        n_tokens = codes.shape[2]
        ssl = F.interpolate(self.quantizer.decode(codes), scale_factor=2, mode="nearest")  # 25 -> 50 Hz
        content = self.enc_p(ssl, phones, ge, speed)
        fea = F.interpolate(self.bridge(content), scale_factor=FEATURE_UPSAMPLE[self.version], mode="nearest")
        fea = self.wns1(fea, valid_feature_frames(n_tokens, self.version, speed), ge)
        return fea, ge
