"""Per-part wall time of a synthesis call (front end, CFM, vocoder, crossfade) without syncing the device mid-way:
on CUDA each part is bracketed by events and read once at the end."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import torch

PARTS = ("front end", "cfm", "vocoder", "crossfade")


class PartClock:
    """Accumulates seconds per part while ``enabled``; ``seconds()`` syncs once (CUDA) and returns them."""

    def __init__(self, device: torch.device, enabled: bool = False):
        self.cuda = device.type == "cuda"
        self.enabled = enabled
        self.spans: list[tuple[str, object, object]] = []

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
        else:
            start = time.perf_counter()
            yield
            end = time.perf_counter()
        self.spans.append((name, start, end))

    def seconds(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
        out = {name: 0.0 for name in PARTS}
        for name, start, end in self.spans:
            out[name] = out.get(name, 0.0) + (start.elapsed_time(end) / 1000 if self.cuda else end - start)
        return out
