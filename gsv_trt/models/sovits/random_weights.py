"""Deterministic random weights for the SoVITS front end, from nothing but names, shapes and a seed.

Used for "random" runs (no checkpoint) and to regenerate the golden-fixture weights in the tests instead of
shipping ~90 MB of them (tools/make_sovits_fixtures.py loads the same numbers into upstream's model). Each tensor
has its own numpy PCG64 stream keyed by (seed, crc32(name)), drawn with ``Generator.random`` (uniform doubles, a
stable stream), so a tensor's values do not depend on which other tensors exist. Scales keep activations O(1)
through every layer, so the output depends on every input; the codebook is non-zero (upstream starts it at zero).
Changing the recipe changes the numbers: regenerate every fixture made with it (make_sovits_fixtures.py,
make_synthesis_fixtures.py).
"""

from __future__ import annotations

import math
import zlib
from typing import Mapping, Sequence

import numpy as np
import torch


def _scale(name: str, shape: Sequence[int]) -> tuple[float, float]:
    """(centre, half-width) of the uniform draw for a tensor called ``name``."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "gamma":
        return 1.0, 0.2  # LayerNorm gain
    if leaf in ("beta", "bias"):
        return 0.0, 0.1
    if leaf == "weight_g":
        return 1.0, 0.2  # weight-norm magnitude = each output channel's weight norm
    if leaf == "inited":
        return 1.0, 0.0
    if leaf in ("embed", "embed_avg", "cluster_size") or name.endswith("text_embedding.weight"):
        return 0.0, math.sqrt(3.0)  # unit-variance embeddings
    if leaf in ("emb_rel_k", "emb_rel_v"):
        return 0.0, math.sqrt(3.0 / shape[-1])
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    return 0.0, math.sqrt(3.0 / fan_in)  # unit-gain fan-in scaling (also for weight_v: only its direction counts)


def seeded_state_dict(shapes: Mapping[str, Sequence[int]], seed: int) -> dict[str, torch.Tensor]:
    """float32 tensors for every ``name -> shape``; the same (name, shape, seed) always gives the same values."""
    out = {}
    for name, shape in shapes.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        centre, half = _scale(name, shape)
        values = centre + half * (2.0 * rng.random(tuple(shape)) - 1.0)
        out[name] = torch.from_numpy(values.astype(np.float32))
    return out
