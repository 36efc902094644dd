"""The quality gate's inputs and its spectral yardstick, on top of upstream's mel (``gsv_trt.models.mel``).

Inputs are real speech: the bundled LibriTTS clip or the user's own files, resampled to the rate the version's mel
expects (v3 24 kHz, v4 32 kHz) and turned into the mel GPT-SoVITS would feed its vocoder. The yardstick is a mel of
the vocoder's *output* at the output's own rate, for the log-mel distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import GsvTrtError
from ..models.vocoder.config import MelSettings, VocoderSpec
from ..models.mel import load_wav, mel_spectrogram, shipped_speech

BUNDLED_ATTRIBUTION = ("LibriTTS (Zen et al., 2019), CC BY 4.0, from the NVIDIA BigVGAN demo examples; "
                       "see gsv_trt/data/ATTRIBUTION.md")


def log_mel(wav: np.ndarray, settings: MelSettings) -> np.ndarray:
    """float32 audio [N] or [B, N] at ``settings.sampling_rate`` -> natural-log mel float32 [B, n_mels, N // hop]."""
    y = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    y = y[None] if y.ndim == 1 else y
    if y.ndim != 2:
        raise GsvTrtError(f"audio: expected shape [N] or [B, N], got {list(y.shape)}")
    if y.shape[-1] <= max((settings.n_fft - settings.hop_size) // 2, settings.hop_size):
        raise GsvTrtError(f"audio: {y.shape[-1]} samples is too short for a mel with n_fft {settings.n_fft}")
    return mel_spectrogram(y, settings).numpy()


def output_mel_settings(spec: VocoderSpec) -> MelSettings:
    """A mel of the vocoder's output at its own rate: hop = the vocoder's hop (one frame per input frame), window
    4 hops as upstream's mels have. For v3 this is exactly upstream's 24 kHz mel; for v4 the 48 kHz analogue."""
    return MelSettings(sampling_rate=spec.sample_rate, n_fft=4 * spec.hop, win_size=4 * spec.hop, hop_size=spec.hop,
                       num_mels=spec.mel.num_mels, fmin=spec.mel.fmin, fmax=None, clip_val=spec.mel.clip_val)


@dataclass(frozen=True)
class Clip:
    """One real-speech input of the quality gate: where it came from and the mel the vocoder receives."""

    name: str
    source: str  # path of the file
    attribution: str  # licence / origin, printed with results ("user file" for the user's own)
    mel: np.ndarray  # float32 [1, 100, T]

    @property
    def frames(self) -> int:
        return int(self.mel.shape[-1])

    def describe(self) -> str:
        return f"{self.name} ({self.frames} frames; {self.attribution})"


def load_clip(path: str | Path, spec: VocoderSpec, max_seconds: float | None = None,
              attribution: str = "user file") -> Clip:
    """The mel upstream would compute for ``spec``'s vocoder from a sound file, optionally only its first seconds."""
    path = Path(path)
    if not path.is_file():
        raise GsvTrtError(f"{path}: no such audio file")
    wav = load_wav(path, spec.mel.sampling_rate)
    if max_seconds is not None:
        wav = wav[: int(max_seconds * spec.mel.sampling_rate)]
    return Clip(path.name, str(path), attribution, log_mel(wav, spec.mel))


def default_clips(spec: VocoderSpec, audio: list[str | Path] | None = None,
                  max_seconds: float | None = None) -> list[Clip]:
    """The user's files if given, else the bundled LibriTTS utterance."""
    if audio:
        return [load_clip(p, spec, max_seconds) for p in audio]
    return [load_clip(shipped_speech(), spec, max_seconds, BUNDLED_ATTRIBUTION)]
