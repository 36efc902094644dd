"""The reference clip, prepared as GPT-SoVITS prepares it for v3/v4 (``TTS._get_ref_spec`` and the start of
``using_vocoder_synthesis``):

- ``refer_spec`` [1, 1025, T]: mono, resampled to 32 kHz (torchaudio's resampler), divided by min(2, peak) when
  the peak exceeds 1, linear spectrogram n_fft 2048 / hop 640 — what the style encoder reads;
- ``mel`` [1, 100, T]: mono, resampled to 24 kHz (v3) or 32 kHz (v4), the vocoder's log mel, then scaled to the
  CFM's range (``norm_spec``) — the prompt mel ``mel2`` the CFM continues;
- ``align_prompt``: the prompt's features and mel cut to a common length T_min, then to their last T_ref frames.

Upstream reads the file with torchaudio (samples in [-1, 1], channels first); soundfile gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import GsvTrtError
from ..mel import linear_spectrogram, mel_spectrogram, normalise_mel
from ..vocoder.config import spec_for
from .sinc_resample import resample
from .validate import check_reference_length

SPEC_RATE, SPEC_N_FFT, SPEC_HOP, SPEC_WIN = 32000, 2048, 640, 2048  # s2.json "data"


@dataclass
class ReferenceAudio:
    """A reference clip as loaded: ``samples`` [channels, N] float32 in [-1, 1] (1 or 2 channels)."""

    samples: torch.Tensor
    sample_rate: int
    source: str

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.sample_rate


@dataclass
class PreparedReference:
    """What the synthesis stage keeps per reference clip."""

    refer_spec: torch.Tensor  # [1, 1025, T_spec], 50 frames/s
    mel: torch.Tensor  # [1, 100, T_mel], CFM scale; 93.75 (v3) / 100 (v4) frames/s
    version: str
    source: str


def read_reference(path: str | Path) -> ReferenceAudio:
    """Read a 3-10 s mono or stereo clip at any rate; a one-line error for anything upstream would refuse."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise GsvTrtError(f"{path}: no such audio file")
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise GsvTrtError(f"{path}: not a readable audio file ({e})") from None
    if audio.shape[1] > 2:
        raise GsvTrtError(f"{path}: has {audio.shape[1]} channels; a reference must be mono or stereo")
    if not np.isfinite(audio).all():
        raise GsvTrtError(f"{path}: contains NaN or Inf samples")
    check_reference_length(audio.shape[0], rate, str(path))
    return ReferenceAudio(torch.from_numpy(np.ascontiguousarray(audio.T)), int(rate), str(path))


def _mono(samples: torch.Tensor) -> torch.Tensor:
    return samples.mean(0, keepdim=True) if samples.shape[0] == 2 else samples


def prepare_reference(ref: ReferenceAudio, version: str) -> PreparedReference:
    """The reference spectrogram and the normalised prompt mel for ``version``, as upstream computes them."""
    mel_settings = spec_for(version).mel
    mono = _mono(ref.samples.float())
    audio = resample(mono, ref.sample_rate, SPEC_RATE)
    peak = audio.abs().max()
    if peak > 1:
        audio = audio / min(2, peak)
        if ref.sample_rate == SPEC_RATE and ref.samples.shape[0] == 1:
            mono = audio  # upstream divides the loaded samples in place here, so its prompt mel sees it too
    refer_spec = linear_spectrogram(audio, SPEC_N_FFT, SPEC_HOP, SPEC_WIN)
    mel = normalise_mel(mel_spectrogram(resample(mono, ref.sample_rate, mel_settings.sampling_rate), mel_settings))
    return PreparedReference(refer_spec, mel, version, ref.source)


def load_reference(path: str | Path, version: str) -> PreparedReference:
    """``read_reference`` + ``prepare_reference``."""
    return prepare_reference(read_reference(path), version)


def align_prompt(fea_ref: torch.Tensor, mel: torch.Tensor, t_ref: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt's features [B, 512, T_f] and mel [B, 100, T_m] cut to T_min = min(T_f, T_m) frames, then, if
    longer than ``t_ref`` (468 for v3, 500 for v4: CFM_SHAPES), to their last ``t_ref`` frames."""
    t_min = min(fea_ref.shape[2], mel.shape[2])
    start = max(t_min - t_ref, 0)
    return fea_ref[:, :, start:t_min], mel[:, :, start:t_min]
