"""One v4 Generator stage whose resblocks run side by side, each on its own CUDA stream, then averaged.

Why: in the wide (64-256 channel) stages each resblock is a chain of six cuDNN convs and the elementwise kernels
between them. Run one after another, the chains leave part of the GPU idle (a 256-channel conv at 1000 frames fills
about one wave of SMs) and sit through every launch gap and cuDNN memset. Captured side by side in one CUDA graph,
the three chains overlap: v4 at 1000 frames ran 0.13-0.16 ms faster on an H100 (docs/torch-fast.md, log 14).

dynamo does not trace CUDA streams, so this module runs outside the compiled graph (one graph break per stage).
``compile_parts`` compiles each resblock and the mean on their own instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def _mean(*xs: torch.Tensor) -> torch.Tensor:
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total / len(xs)


class ConcurrentStage(nn.Module):
    """Drop-in for a stage's multi-receptive-field block: ``mean(block(x) for block in blocks)``, the blocks on
    their own CUDA streams (on a CPU tensor they run one after another)."""

    def __init__(self, blocks: Sequence[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.use_compiled = True  # False: run the plain modules (for shapes the compiled parts were not built for)
        self._compiled: tuple[list[Callable], Callable] | None = None
        self._streams: list[torch.cuda.Stream] = []

    def compile_parts(self, mode: str | None) -> None:
        """torch.compile each resblock and the mean (static shapes, ``mode`` as torch.compile takes it)."""
        self._compiled = ([torch.compile(b, mode=mode, dynamic=False) for b in self.blocks],
                          torch.compile(_mean, mode=mode, dynamic=False))

    @torch.compiler.disable
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks, mean = self._compiled if self._compiled and self.use_compiled else (list(self.blocks), _mean)
        if x.device.type != "cuda":
            return mean(*(block(x) for block in blocks))
        if not self._streams:
            self._streams = [torch.cuda.Stream(x.device) for _ in blocks]
        current = torch.cuda.current_stream(x.device)
        outs = []
        for block, stream in zip(blocks, self._streams):
            stream.wait_stream(current)  # x is ready; the fork joins a graph capture under way
            with torch.cuda.stream(stream):
                outs.append(block(x))
        for stream in self._streams:
            current.wait_stream(stream)
        return mean(*outs)
