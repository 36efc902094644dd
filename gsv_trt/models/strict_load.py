"""Loading a checkpoint's tensors into a model strictly, fast enough for a 337 M-parameter CFM on a CPU.

Names, shapes and NaN/Inf are checked with one-line messages; the NaN/Inf test is one
fp32 sum per tensor (any NaN or Inf makes the sum NaN or Inf; finite weights overflow it only near 1e38 / size;
``torch.isfinite`` over every element takes ~15 s for the CFM on 2 cores), and the tensors are assigned, not copied.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import GsvTrtError


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Put ``state`` (fp32, owned by the caller) into ``model``; name the first missing, unexpected or mis-shaped
    tensor, or one holding NaN or Inf."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        raise GsvTrtError(f"{path}: keys do not match {what}: {', '.join(parts)}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise GsvTrtError(f"{path}: {key} has shape {list(state[key].shape)}, {what} expects {list(tensor.shape)}")
        if state[key].is_floating_point() and not torch.isfinite(state[key].sum(dtype=torch.float32)):
            raise GsvTrtError(f"{path}: {key} contains NaN or Inf")
    model.load_state_dict(state, strict=True, assign=True)
