"""Checks of one estimator call's arrays (shapes against the DiT's widths, float32, batch and frames consistent), and
the numpy <-> torch bridge for runtimes that compute on host arrays. Cheap: no finiteness test, which would sync a
GPU every step (``euler.inference`` checks the call's inputs once)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ...errors import GsvTrtError
from ...models.cfm.config import DiTConfig

Array = Any  # np.ndarray | torch.Tensor


def _shape(a: Array) -> tuple[int, ...]:
    return tuple(int(n) for n in getattr(a, "shape", ()))


def _check(arrays: dict[str, Array], want: dict[str, tuple], max_frames: int) -> tuple[int, int]:
    """``want``: per name a shape of ints, "B" and "T"; returns (B, T) after checking every array against it."""
    first = next(iter(arrays))
    sizes: dict[str, int] = {}
    for name, a in arrays.items():
        dtype = str(getattr(a, "dtype", type(a).__name__)).replace("torch.", "")
        if dtype != "float32":
            raise GsvTrtError(f"{name}: expected float32, got {dtype}")
        shape, pattern = _shape(a), want[name]
        fits = len(shape) == len(pattern)
        for n, p in zip(shape, pattern):
            if isinstance(p, int):
                fits = fits and n == p
            else:
                fits = fits and sizes.setdefault(p, n) == n
        if not fits:
            readable = ", ".join(map(str, pattern))
            raise GsvTrtError(f"{name}: expected shape [{readable}] (B, T of {first}), got {list(shape)}")
    batch, frames = sizes["B"], sizes.get("T", 1)
    if batch < 1 or frames < 1:
        raise GsvTrtError(f"{first}: empty input (B={batch}, T={frames})")
    if frames > max_frames:
        raise GsvTrtError(f"{first}: T={frames} frames exceeds the {max_frames}-frame position table of the model")
    return batch, frames


def check_condition(mu: Array, dt: Array, cfg: DiTConfig) -> tuple[int, int]:
    """mu [B, T, text_dim], dt [B] -> (B, T)."""
    return _check({"mu": mu, "dt": dt}, {"mu": ("B", "T", cfg.text_dim), "dt": ("B",)}, cfg.max_pos)


def check_step(x: Array, prompt_x: Array, t: Array, text: Array, dt_emb: Array, cfg: DiTConfig) -> tuple[int, int]:
    """x, prompt_x [B, mel_dim, T], t [B], text [B, T, text_dim], dt_emb [B, dim] -> (B, T)."""
    return _check({"x": x, "prompt_x": prompt_x, "t": t, "text": text, "dt_emb": dt_emb},
                  {"x": ("B", cfg.mel_dim, "T"), "prompt_x": ("B", cfg.mel_dim, "T"), "t": ("B",),
                   "text": ("B", "T", cfg.text_dim), "dt_emb": ("B", cfg.dim)}, cfg.max_pos)


def is_torch(a: Array) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(a, torch.Tensor)


def to_numpy(a: Array) -> np.ndarray:
    """A contiguous float32 host array of ``a`` (numpy or torch, on any device)."""
    return np.ascontiguousarray(a.detach().cpu().numpy() if is_torch(a) else a)


def like(out: np.ndarray, ref: Array) -> Array:
    """``out`` as the kind of array ``ref`` is: numpy stays numpy, torch goes back to ``ref``'s device."""
    if is_torch(ref):
        import torch

        return torch.from_numpy(out).to(ref.device)
    return out
