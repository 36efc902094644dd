"""What every CFM estimator runtime offers, so one Euler loop (``euler.inference``) runs over any of them.

Arrays are numpy float32 (ONNX-Runtime, TensorRT from host memory) or torch tensors (eager, TensorRT on CUDA
tensors); each call returns the same kind it was given. Shapes: mu [B, T, 512] time-major, dt and t [B],
x and prompt_x [B, 100, T], text [B, T, 512], dt_emb [B, 1024], v [B, 100, T].
"""

from __future__ import annotations

from typing import Any, Protocol

from ..base import RuntimeInfo

Array = Any  # np.ndarray | torch.Tensor


class CFMEstimator(Protocol):
    """The DiT split as upstream's conditioner cache splits it: ``condition`` once per call, ``step`` per Euler step.

    A runtime of a reduced-width model (tests) also has ``config`` (a ``DiTConfig``) so inputs are checked against
    its widths; without it the full-size model's are assumed."""

    info: RuntimeInfo

    def condition(self, mu: Array, dt: Array) -> tuple[Array, Array]:
        """mu [B, T, 512], dt [B] -> (text [B, T, 512], dt_emb [B, 1024])."""
        ...

    def step(self, x: Array, prompt_x: Array, t: Array, text: Array, dt_emb: Array) -> Array:
        """-> v [B, 100, T], the flow velocity at time t."""
        ...
