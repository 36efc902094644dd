"""Modules allocated but not initialised, for a strict ``load_state_dict`` to fill.

Every loader here replaces all of a model's tensors right after building it, so torch's default init is wasted
time: for v3's BigVGAN it was 1.6 s of the torch-fast vocoder's 6 s warm restart on an H200 (its private copy of
the model was built with init, then overwritten). Building on the meta device also leaves the caller's random
state alone.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def uninitialised(make: Callable[[], M]) -> M:
    """``make()`` with its parameters and buffers allocated on the CPU, holding garbage until a strict load. Refuses
    a module whose state dict would not cover every tensor (a non-persistent buffer would keep its garbage)."""
    with torch.device("meta"):
        model = make()
    saved = set(model.state_dict())
    unsaved = [name for name, _ in model.named_buffers() if name not in saved]
    if unsaved:
        raise ValueError(f"{type(model).__name__}: buffer {unsaved[0]} is not in the state dict; build it with init")
    return model.to_empty(device="cpu")
