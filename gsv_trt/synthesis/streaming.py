"""Streaming for v3/v4 (upstream refuses it): the CFM chunk by chunk, the vocoder on each new mel chunk.

``StreamPlan``: the first CFM chunk is short (audio starts sooner), later ones are the sequential path's
``T_chunk - T_min`` frames. Each chunk is prompted by the last ``T_min`` frames made before it (upstream's rule for
chunks of at least ``T_min`` frames, which it always uses), so with ``first = later = T_chunk - T_min`` the stream's
mel is the sequential path's.

``StreamingVocoder``: the vocoders are non-causal convolution stacks; the audio of a mel frame depends on about
``reach`` frames either side (33 for BigVGAN, 12 for the v4 Generator; upstream-notes.md). Each call vocodes the new
frames with ``context`` frames of left context and holds back the last ``holdback`` frames, whose audio the next
chunk will change. With both at the reach the stream equals one vocoder call over the whole mel up to rounding;
smaller values trade exactness at the seams for latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import GsvTrtError
from ..models.mel import denormalise_mel
from .runners import VocoderRunner

VOCODER_REACH = {"v3": 33, "v4": 12}  # mel frames either side that reach a frame's audio


@dataclass(frozen=True)
class StreamPlan:
    first: int = 40  # CFM frames of a segment's first chunk
    later: int | None = None  # frames of later chunks; None: T_chunk - T_min, as the sequential path
    context: int | None = None  # vocoder left context in frames; None: the vocoder's reach
    holdback: int | None = None  # frames held back for the next chunk; None: the vocoder's reach

    def __post_init__(self):
        for name in ("first", "later", "context", "holdback"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < (1 if name in ("first", "later") else 0)):
                raise GsvTrtError(f"stream plan: {name}={value!r} is not a valid number of frames")


def stream_spans(frames: int, first: int, later: int) -> list[tuple[int, int]]:
    """[start, stop) of each CFM chunk: ``first`` frames, then ``later`` each."""
    spans, start, size = [], 0, first
    while start < frames:
        spans.append((start, min(start + size, frames)))
        start, size = start + size, later
    return spans


class StreamingVocoder:
    """Feed normalised mel chunks [1, 100, n] in order; get the audio that is final so far; ``flush`` at the end."""

    def __init__(self, vocoder: VocoderRunner, hop: int, context: int, holdback: int):
        self.vocoder, self.hop, self.context, self.holdback = vocoder, hop, context, holdback
        self.mel: torch.Tensor | None = None  # the frames from buffer_start on
        self.buffer_start = 0
        self.total = 0  # frames fed
        self.emitted = 0  # frames whose audio has been returned

    def feed(self, mel: torch.Tensor) -> torch.Tensor:
        mel = denormalise_mel(mel)
        self.mel = mel if self.mel is None else torch.cat([self.mel, mel], 2)
        self.total += mel.shape[2]
        return self._emit(self.total - self.holdback)

    def flush(self) -> torch.Tensor:
        return self._emit(self.total)

    def _emit(self, upto: int) -> torch.Tensor:
        if self.mel is None or upto <= self.emitted:
            return torch.zeros(0, device=self.mel.device if self.mel is not None else "cpu")
        start = max(self.emitted - self.context, self.buffer_start)
        wav = self.vocoder(self.mel[:, :, start - self.buffer_start:])[0, 0]
        audio = wav[(self.emitted - start) * self.hop: (upto - start) * self.hop]
        self.emitted = upto
        keep_from = max(self.emitted - self.context, self.buffer_start)
        self.mel = self.mel[:, :, keep_from - self.buffer_start:]
        self.buffer_start = keep_from
        return audio
