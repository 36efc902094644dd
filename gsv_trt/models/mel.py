"""The vocoders' input: upstream's ``mel_spectrogram_torch`` (TTS.py ``mel_fn`` / ``mel_fn_v4``), and speech for it;
the linear spectrogram the SoVITS style encoder reads, and the CFM's mel scaling.

Reflect-pad (n_fft-hop)/2 each side, ``center=False``, Hann window, magnitude ``sqrt(re²+im²+1e-8)``, librosa's
Slaney mel basis, ``ln(clamp(x, 1e-5))``: the same steps as upstream, so golden numbers match it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import GsvTrtError
from .vocoder.config import MelSettings

SPEECH_CLIP = "libritts_24k.wav"  # shipped in gsv_trt/data with its attribution


@lru_cache(maxsize=8)
def mel_basis(settings: MelSettings) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(sr=settings.sampling_rate, n_fft=settings.n_fft, n_mels=settings.num_mels,
                                fmin=settings.fmin, fmax=settings.fmax)
    return torch.from_numpy(basis)


def linear_spectrogram(wav: torch.Tensor, n_fft: int, hop_size: int, win_size: int) -> torch.Tensor:
    """[B, samples] -> magnitude [B, n_fft // 2 + 1, frames] (upstream's ``spectrogram_torch``, center=False)."""
    pad = (n_fft - hop_size) // 2
    wav = torch.nn.functional.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win_size, dtype=wav.dtype, device=wav.device)
    spec = torch.stft(wav, n_fft, hop_length=hop_size, win_length=win_size, window=window, center=False,
                      normalized=False, onesided=True, return_complex=True)
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-8)


def mel_spectrogram(wav: torch.Tensor, settings: MelSettings) -> torch.Tensor:
    """[B, samples] float32 at ``settings.sampling_rate`` -> natural-log mel [B, num_mels, samples // hop]."""
    magnitude = linear_spectrogram(wav, settings.n_fft, settings.hop_size, settings.win_size)
    mel = torch.matmul(mel_basis(settings).to(wav.device, wav.dtype), magnitude)
    return torch.log(torch.clamp(mel, min=settings.clip_val))


# The CFM works on log mels mapped from [-12, 2] to [-1, 1] (upstream's spec_min / spec_max in TTS.py)
CFM_MEL_RANGE = (-12.0, 2.0)


def normalise_mel(mel: torch.Tensor) -> torch.Tensor:
    """Natural-log mel -> the CFM's scale (upstream ``norm_spec``): the reference mel ``mel2`` is made with it."""
    low, high = CFM_MEL_RANGE
    return (mel - low) / (high - low) * 2 - 1


def denormalise_mel(mel: torch.Tensor) -> torch.Tensor:
    """The CFM's output scale -> natural-log mel for the vocoder (upstream ``denorm_spec``)."""
    low, high = CFM_MEL_RANGE
    return (mel + 1) / 2 * (high - low) + low


def shipped_speech() -> Path:
    """The real-speech clip shipped with the package (LibriTTS, CC BY 4.0; see gsv_trt/data/ATTRIBUTION.md)."""
    return Path(str(resources.files("gsv_trt") / "data" / SPEECH_CLIP))


def load_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 audio at ``sample_rate`` (averaging channels, resampling with soxr via librosa)."""
    import librosa
    import soundfile

    path = Path(path)
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise GsvTrtError(f"{path}: not a readable audio file ({e})") from None
    audio = audio.mean(axis=1)
    if audio.size == 0:
        raise GsvTrtError(f"{path}: contains no samples")
    if not np.isfinite(audio).all():
        raise GsvTrtError(f"{path}: contains NaN or Inf samples")
    if rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def speech_mel(settings: MelSettings, path: str | Path | None = None, max_frames: int | None = None) -> np.ndarray:
    """The mel [1, 100, T] of real speech (the shipped clip unless ``path``), as GPT-SoVITS feeds its vocoder."""
    audio = load_wav(path or shipped_speech(), settings.sampling_rate)
    mel = mel_spectrogram(torch.from_numpy(audio).unsqueeze(0), settings).numpy()
    if mel.shape[-1] == 0:
        raise GsvTrtError(f"{path or shipped_speech()}: too short for one mel frame ({settings.hop_size} samples)")
    return mel[..., :max_frames] if max_frames else mel
