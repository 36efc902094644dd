"""How the synthesis stage cuts SoVITS features into CFM calls, per version (upstream's ``TTS.init_vocoder``).

Sequential path: each CFM call gets at most ``t_ref`` prompt frames and ``t_chunk`` frames in all, so
``chunk_len = t_chunk - T_min`` new frames a call. Batched path: the features, left-padded with ``overlap`` zero
frames, are cut into chunks of ``chunk_len`` frames that overlap by ``overlap`` frames, the last one zero-padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import GsvTrtError
from ..models.cfm.config import CFM_SHAPES
from ..models.vocoder.config import spec_for

SOLA_SEARCH = 320  # samples the crossfade may shift the next fragment by (upstream's search_len)


@dataclass(frozen=True)
class Chunking:
    """Upstream's ``vocoder_configs`` (T_ref, T_chunk, overlapped_len, upsample_rate)."""

    t_ref: int  # most prompt frames a CFM call is given
    t_chunk: int  # frames of one CFM call, prompt included
    hop: int  # audio samples per mel frame (the vocoder's upsampling)
    overlap: int = 12  # frames neighbouring chunks share in the batched path

    @classmethod
    def for_version(cls, version: str) -> "Chunking":
        if version not in CFM_SHAPES:
            raise GsvTrtError(f"version {version!r}: the synthesis stage is v3 or v4")
        t_ref, t_chunk = CFM_SHAPES[version]
        return cls(t_ref, t_chunk, spec_for(version).hop)

    def chunk_len(self, t_min: int) -> int:
        """New frames per CFM call when the prompt has ``t_min`` frames."""
        n = self.t_chunk - t_min
        if n <= self.overlap:
            raise GsvTrtError(f"chunking: T_chunk {self.t_chunk} leaves {n} new frames after a {t_min}-frame prompt; "
                              f"need more than the overlap of {self.overlap}")
        return n


def sequential_spans(frames: int, chunk_len: int) -> list[tuple[int, int]]:
    """[start, stop) of each sequential CFM call's new frames."""
    return [(start, min(start + chunk_len, frames)) for start in range(0, frames, chunk_len)]


def batched_chunks(feats: torch.Tensor, chunk_len: int, overlap: int) -> tuple[torch.Tensor, int]:
    """feats [1, C, T] -> (chunks [n, C, chunk_len], zero frames padded onto the last chunk), upstream's cut."""
    padded_len = feats.shape[2] + overlap
    stride = chunk_len - overlap
    n = -(-padded_len // stride)  # chunks start every stride frames while the start is inside the padded features
    padding = (n - 1) * stride + chunk_len - padded_len  # always >= overlap: the last chunk is never full
    padded = torch.nn.functional.pad(feats, (overlap, padding))
    chunks = padded.unfold(2, chunk_len, stride)[0].permute(1, 0, 2)  # [n, C, chunk_len]
    return chunks.contiguous(), padding
