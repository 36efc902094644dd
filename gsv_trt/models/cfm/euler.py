"""The fixed-step Euler loop of upstream's ``CFM.inference`` (inference_cfg_rate = 0), over numpy or torch arrays.

One loop for every estimator (the PyTorch model, ONNX-Runtime, TensorRT): the conditioning is computed once, then
each step is ``x = x + d·v`` with the prompt region of x set back to zero. The arithmetic (t accumulated as a Python
float, ``ones(B) * t`` for the time input) is upstream's, so equal estimators give bit-equal loops.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

Array = Any  # np.ndarray or torch.Tensor; every array of one call has the same kind and dtype


def _ones(like: Array, n: int) -> Array:
    if isinstance(like, torch.Tensor):
        return torch.ones(n, device=like.device, dtype=like.dtype)
    return np.ones(n, dtype=like.dtype)


def _zeros_like(x: Array) -> Array:
    return torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)


def _copy(x: Array) -> Array:
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def euler_solve(condition: Callable[[Array, Array], tuple[Array, Array]], step: Callable[..., Array],
                mu: Array, prompt: Array, x0: Array, steps: int) -> Array:
    """mu [B, T, C] time-major, prompt [1|B, 100, P], x0 [B, 100, T] (noise · temperature) -> mel [B, 100, T]."""
    x = _copy(x0)  # the caller's noise is not modified
    prompt_len = prompt.shape[-1]
    prompt_x = _zeros_like(x)
    prompt_x[..., :prompt_len] = prompt[..., :prompt_len]
    x[..., :prompt_len] = 0
    d = 1 / steps
    ones = _ones(x, x.shape[0])
    text, dt_emb = condition(mu, ones * d)
    t = 0
    for _ in range(steps):
        v = step(x, prompt_x, ones * t, text, dt_emb)
        x = x + d * v
        t = t + d
        x[:, :, :prompt_len] = 0
    return x
