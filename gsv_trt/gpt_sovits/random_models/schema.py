"""Names and shapes of an upstream model's state dict, read off upstream's own class on the meta device.

The files we write must load into the checkout under test exactly (every tensor present: upstream loads SoVITS
files with ``strict=False``, and a missing tensor would keep torch's unseeded init, so two processes would differ).
Building the class on the meta device allocates nothing and runs no init, so even the 337 M-parameter
SynthesizerTrnV3 takes well under a second.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def state_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    """``name -> shape`` of the state dict of the module that ``build()`` returns."""
    with torch.device("meta"):
        module = build()
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}
