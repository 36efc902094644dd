"""How far a candidate's waveform is from the reference's: waveform cosine, MSE and SNR, log-mel L1 at the output's
own rate, and the multi-resolution STFT distance (auraloss, the loss BigVGAN itself trains with).

Waveform metrics catch any numerical drift; the spectral ones say whether the drift is audible-ish (GAN vocoders at
reduced precision drift in phase more than in magnitude).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import GsvTrtError
from ..models.vocoder.config import MelSettings
from .mel import log_mel


@dataclass(frozen=True)
class QualityMetrics:
    """Candidate vs reference on one clip. ``snr_db`` is +inf for identical audio."""

    finite: bool  # candidate has no NaN/Inf (if False, the other fields are NaN)
    cosine: float  # waveform cosine similarity, 1.0 = identical direction
    mse: float  # mean squared waveform error
    snr_db: float  # 10 log10(sum ref^2 / sum (ref - cand)^2)
    max_abs: float  # largest single-sample difference
    log_mel_l1: float  # mean |ln-mel(ref) - ln-mel(cand)|, mel at the output rate
    mr_stft: float  # auraloss MultiResolutionSTFTLoss (spectral convergence + log magnitude), 0 = identical
    samples: int

    def to_dict(self) -> dict:
        """JSON-safe: NaN becomes null, infinities the strings "inf"/"-inf"."""
        return {k: _json_float(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _json_float(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    ref = reference.astype(np.float64).ravel()
    err = ref - candidate.astype(np.float64).ravel()
    noise = float(np.dot(err, err))
    signal = float(np.dot(ref, ref))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(reference: np.ndarray, candidate: np.ndarray) -> float:
    a = reference.astype(np.float64).ravel()
    b = candidate.astype(np.float64).ravel()
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denom == 0.0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a, b)) / denom


def mr_stft_distance(reference: np.ndarray, candidate: np.ndarray) -> float:
    """auraloss's MultiResolutionSTFTLoss with its defaults (FFT 1024/2048/512), both signals as [B, 1, N]."""
    import auraloss
    import torch

    loss = auraloss.freq.MultiResolutionSTFTLoss()
    with torch.no_grad():
        value = loss(torch.from_numpy(_as_bcn(candidate)), torch.from_numpy(_as_bcn(reference)))
    return float(value)


def _as_bcn(wav: np.ndarray) -> np.ndarray:
    w = np.ascontiguousarray(wav, dtype=np.float32)
    return w.reshape(-1, 1, w.shape[-1])


def compare(reference: np.ndarray, candidate: np.ndarray, output_mel: MelSettings) -> QualityMetrics:
    """All metrics of ``candidate`` against ``reference`` (same shape, float waveforms at ``output_mel``'s rate)."""
    if reference.shape != candidate.shape:
        raise GsvTrtError(f"candidate output shape {list(candidate.shape)} differs from the reference's "
                          f"{list(reference.shape)}")
    samples = int(reference.shape[-1])
    if not np.isfinite(candidate).all():
        nan = math.nan
        return QualityMetrics(False, nan, nan, nan, nan, nan, nan, samples)
    ref64 = reference.astype(np.float64)
    diff = ref64 - candidate.astype(np.float64)
    mel_ref = log_mel(reference.reshape(-1, samples), output_mel)
    mel_cand = log_mel(candidate.reshape(-1, samples), output_mel)
    return QualityMetrics(
        finite=True,
        cosine=cosine(reference, candidate),
        mse=float(np.mean(diff * diff)),
        snr_db=snr_db(reference, candidate),
        max_abs=float(np.max(np.abs(diff))),
        log_mel_l1=float(np.mean(np.abs(mel_ref.astype(np.float64) - mel_cand))),
        mr_stft=mr_stft_distance(reference, candidate),
        samples=samples,
    )
