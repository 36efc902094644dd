"""The checks every CFM entry point applies before running: shapes, dtype, finiteness, lengths, step count.

One place, used by ``CFM.inference``, the runtime Euler loop and ``gsv-trt cfm`` (which checks its files before it
loads a model). Errors are one line naming the value and what is wrong.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...errors import GsvTrtError
from .config import TRAINED_STEPS

MEL_DIM = 100


class UntrainedStepsWarning(UserWarning):
    """A step count the step-size embedding was not trained for (it still runs)."""


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in getattr(a, "shape", ()))


def _dtype(a: Any) -> str:
    return str(getattr(a, "dtype", type(a).__name__)).replace("torch.", "")


def _finite(a: Any) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.isfinite(a).all())
    import torch

    return bool(torch.isfinite(a).all())


def check_steps(steps: Any, name: str = "steps") -> str | None:
    """Refuse a non-integer or < 1 step count; return a warning for one the model was not trained for."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise GsvTrtError(f"{name}: expected an integer, got {steps!r}")
    if steps < 1:
        raise GsvTrtError(f"{name}: {steps} is below 1")
    if steps not in TRAINED_STEPS:
        return (f"{name}: {steps} is not a step count the model was trained for "
                f"({', '.join(map(str, TRAINED_STEPS))}); the output may be worse")
    return None


def check_inputs(mu: Any, prompt: Any, noise: Any = None, *, text_dim: int = 512, max_frames: int = 4096,
                 dtype: str = "float32", check_finite: bool = True,
                 names: Sequence[str] = ("mu", "prompt", "noise")) -> None:
    """mu [B, T, text_dim], prompt [1|B, 100, P ≤ T], noise [B, 100, T] (optional), all of ``dtype``, finite.

    Works on numpy arrays and torch tensors. On CUDA tensors the finiteness check syncs the device, so hot paths
    pass ``check_finite=False``."""
    mu_name, prompt_name, noise_name = names
    shape = _shape(mu)
    if len(shape) != 3 or shape[2] != text_dim:
        raise GsvTrtError(f"{mu_name}: expected shape [B, T, {text_dim}] (time-major features), got {list(shape)}")
    batch, frames, _ = shape
    if batch < 1 or frames < 1:
        raise GsvTrtError(f"{mu_name}: empty input (B={batch}, T={frames})")
    if frames > max_frames:
        raise GsvTrtError(f"{mu_name}: T={frames} frames exceeds the {max_frames}-frame position table of the model")
    p_shape = _shape(prompt)
    if len(p_shape) != 3 or p_shape[1] != MEL_DIM or p_shape[0] not in (1, batch):
        raise GsvTrtError(f"{prompt_name}: expected shape [1 or {batch}, {MEL_DIM}, T_prompt], got {list(p_shape)}")
    if p_shape[2] > frames:
        raise GsvTrtError(f"{prompt_name}: {p_shape[2]} frames is longer than {mu_name} ({frames} frames)")
    arrays = [(mu_name, mu), (prompt_name, prompt)]
    if noise is not None:
        n_shape = _shape(noise)
        if n_shape != (batch, MEL_DIM, frames):
            raise GsvTrtError(f"{noise_name}: expected shape [{batch}, {MEL_DIM}, {frames}] (B, 100, T of "
                              f"{mu_name}), got {list(n_shape)}")
        arrays.append((noise_name, noise))
    for name, a in arrays:
        if _dtype(a) != dtype:
            raise GsvTrtError(f"{name}: expected {dtype}, got {_dtype(a)}")
    if check_finite:
        for name, a in arrays:
            if not _finite(a):
                raise GsvTrtError(f"{name}: contains NaN or Inf")


def check_lengths(x_lens: Any, frames: int) -> None:
    """Every length must be T: the model has no attention mask (see dit.py)."""
    lengths = [int(n) for n in np.asarray(x_lens.cpu() if hasattr(x_lens, "cpu") else x_lens).reshape(-1)]
    if not lengths or any(n != frames for n in lengths):
        raise GsvTrtError(f"x_lens: {lengths} differ from T={frames}; padded batches (lengths < T) are not supported")
