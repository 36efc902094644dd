"""Length ladders of the fast front end: inputs are padded up to the next rung, so a handful of captured shapes
serve every request (capturing each exact length would miss on almost every real request)."""

from __future__ import annotations

from typing import Sequence

# 25 Hz semantic tokens: 1.28 s steps to 10 s, then 5.1 s steps to 41 s (a 30 s segment pads by at most 128 tokens)
TOKEN_LADDER = tuple(range(32, 257, 32)) + tuple(range(384, 1025, 128))
# phone ids of a segment or prompt: speech has roughly 10-15 a second, gsv-trt bench gives 2 per token (50 a second)
PHONE_LADDER = tuple(range(32, 257, 32)) + tuple(range(384, 1537, 128))
# reference spectrogram frames, 50 a second (upstream accepts 3-10 s references)
SPEC_LADDER = tuple(range(64, 1025, 64))


def bucket(length: int, ladder: Sequence[int]) -> int | None:
    """The smallest rung >= ``length``; None beyond the ladder (such inputs run eager)."""
    return next((rung for rung in ladder if rung >= length), None)
