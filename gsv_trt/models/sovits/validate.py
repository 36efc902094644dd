"""The checks the SoVITS front end applies to what a user (or the T2S stage) hands it, each failing with one line
that names the field: token ids, phone ids, speed, reference length."""

from __future__ import annotations

import math
import numbers

import torch

from ...errors import GsvTrtError

# upstream's reference limits (TTS._set_prompt_semantic): 48000..160000 samples after loading at 16 kHz
REF_MIN_SECONDS, REF_MAX_SECONDS = 3, 10
_HUBERT_RATE = 16000


def check_ids(ids: torch.Tensor, name: str, dims: str, upper: int, table: str, values: bool = True) -> None:
    """Integer ids of layout ``dims`` (e.g. "[n_q, B, T]"), non-empty, every one in 0..upper-1 (``values``: reading
    them costs a device sync on a GPU tensor, so device-side callers check them on the host where they arrive)."""
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise GsvTrtError(f"{name}: expected an integer tensor {dims}, got {getattr(ids, 'dtype', type(ids).__name__)}")
    if ids.dim() != dims.count(",") + 1:
        raise GsvTrtError(f"{name}: expected shape {dims}, got {list(ids.shape)}")
    if ids.numel() == 0:
        raise GsvTrtError(f"{name}: empty (shape {list(ids.shape)})")
    if not values:
        return
    bad = (ids < 0) | (ids >= upper)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise GsvTrtError(f"{name}: id {int(ids[index])} at index {list(index)} is outside the {table} "
                          f"(0..{upper - 1})")


def check_codes(codes: torch.Tensor, bins: int, values: bool = True) -> None:
    """Semantic tokens [n_q, B, T], each a codebook index."""
    check_ids(codes, "codes", "[n_q, B, T]", bins, f"codebook of {bins} entries", values)


def check_phones(phones: torch.Tensor, n_symbols: int, values: bool = True) -> None:
    """Phone ids [B, T_ph] of the v2 symbol table."""
    check_ids(phones, "phones", "[B, T_ph]", n_symbols, f"symbol table of {n_symbols} phones", values)


def check_speed(speed: float) -> None:
    """A finite speed factor > 0 (1 = as spoken; 1.25 = 25 % faster)."""
    if isinstance(speed, bool) or not isinstance(speed, numbers.Real) or not math.isfinite(speed) or speed <= 0:
        raise GsvTrtError(f"speed: expected a finite number > 0, got {speed!r}")


def reference_seconds_ok(samples: int, sample_rate: int) -> bool:
    """Upstream's test: the clip loaded at 16 kHz lasts 3..10 s (librosa's length there: ceil(samples * ratio))."""
    at_16k = math.ceil(samples * (_HUBERT_RATE / sample_rate))
    return REF_MIN_SECONDS * _HUBERT_RATE <= at_16k <= REF_MAX_SECONDS * _HUBERT_RATE


def check_reference_length(samples: int, sample_rate: int, source: str) -> None:
    if not reference_seconds_ok(samples, sample_rate):
        raise GsvTrtError(f"{source}: reference audio lasts {samples / sample_rate:.2f} s; GPT-SoVITS needs "
                          f"{REF_MIN_SECONDS} to {REF_MAX_SECONDS} s")
