"""Optimization profiles: the ranges of batch and frames an engine accepts, sized for how GPT-SoVITS calls its vocoder.

GPT-SoVITS calls the vocoder three ways (TTS.py, v3/v4):
- batched path (the default, ``parallel_infer``): all CFM chunks concatenated into ONE call of ``bs * chunk_len``
  frames, e.g. 8 chunks x 466 = 3728 frames; long texts give tens of thousands.
- sequential path: one call per segment, ~934 (v3) / 1000 (v4) frames per CFM chunk, often a few chunks.
- short fragments: ~50-100 frames.

One profile from 1 to 16384 frames would size every execution context's activation memory for 16384 frames, even
for a 50-frame call. So by default there are two: "short" (up to 1024 frames, batch up to 8, for sequential and
batched-by-us calls) and "long" (1025-16384 frames, batch 1, for the concatenated batched path). The runtime keeps
one execution context per profile and picks the smallest that covers a call; longer inputs are refused with the
option that would allow them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import GsvTrtError

MEL_BANDS = 100
DEFAULT_MIN_FRAMES = 1  # the models work for any T >= 1
DEFAULT_OPT_FRAMES = 1000  # one sequential CFM chunk (934 v3, 1000 v4)
DEFAULT_MAX_FRAMES = 16384  # ~175 s of v3 / ~164 s of v4 audio in one call
DEFAULT_MAX_BATCH = 8
DEFAULT_SPLIT_FRAMES = 1024  # short/long boundary; 0 = a single profile
LONG_OPT_FRAMES = 3728  # the batched path's typical call: 8 chunks x 466 frames
WHY = ("two profiles bound activation memory: 'short' (batch up to max_batch, frames up to split) covers GPT-SoVITS's "
       "sequential path (~934/1000 frames) and short fragments (50-100); 'long' (batch 1) covers the batched path's "
       "single call on all chunks concatenated (e.g. 8 x 466 = 3728 frames)")


@dataclass(frozen=True)
class Profile:
    """One optimization profile for input ``mel`` [batch, 100, frames]: (min, opt, max) of each dynamic axis."""

    name: str
    batch: tuple[int, int, int]
    frames: tuple[int, int, int]

    def shapes(self) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
        """min, opt, max input shapes as ``IOptimizationProfile.set_shape`` takes them."""
        return tuple((b, MEL_BANDS, t) for b, t in zip(self.batch, self.frames))  # type: ignore[return-value]

    def covers(self, batch: int, frames: int) -> bool:
        return self.batch[0] <= batch <= self.batch[2] and self.frames[0] <= frames <= self.frames[2]

    def describe(self) -> str:
        return f"{self.name}: batch {self.batch[0]}-{self.batch[2]}, frames {self.frames[0]}-{self.frames[2]}"

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        return cls(d["name"], tuple(d["batch"]), tuple(d["frames"]))


def make_profiles(min_frames: int = DEFAULT_MIN_FRAMES, opt_frames: int | None = None,
                  max_frames: int = DEFAULT_MAX_FRAMES, max_batch: int = DEFAULT_MAX_BATCH,
                  split_frames: int = DEFAULT_SPLIT_FRAMES) -> list[Profile]:
    """The profiles the build options describe: "short" + "long" split at ``split_frames``, or one "all" profile
    when ``split_frames`` is 0 or not below ``max_frames``. ``opt_frames`` defaults to one CFM chunk (1000), or
    ``max_frames`` when that is smaller."""
    if opt_frames is None:
        opt_frames = max(min(DEFAULT_OPT_FRAMES, max_frames), min_frames)
    if not 1 <= min_frames <= opt_frames <= max_frames:
        raise GsvTrtError(f"frames: need 1 <= min ({min_frames}) <= opt ({opt_frames}) <= max ({max_frames})")
    if max_batch < 1:
        raise GsvTrtError(f"--max-batch {max_batch}: must be at least 1")
    if split_frames < 0:
        raise GsvTrtError(f"--split-frames {split_frames}: must be 0 (one profile) or a frame count")
    if split_frames == 0 or split_frames >= max_frames:
        return [Profile("all", (1, 1, max_batch), (min_frames, opt_frames, max_frames))]
    if split_frames < min_frames:
        raise GsvTrtError(f"--split-frames {split_frames}: below --min-frames {min_frames}")
    short_opt = min(opt_frames, split_frames)
    long_opt = opt_frames if opt_frames > split_frames else min(max(LONG_OPT_FRAMES, split_frames + 1), max_frames)
    return [
        Profile("short", (1, 1, max_batch), (min_frames, short_opt, split_frames)),
        Profile("long", (1, 1, 1), (split_frames + 1, long_opt, max_frames)),
    ]


def pick(profiles: list[Profile], batch: int, frames: int) -> int:
    """Index of the first profile covering ``batch`` x ``frames`` (profiles are ordered small to large)."""
    for i, profile in enumerate(profiles):
        if profile.covers(batch, frames):
            return i
    ranges = "; ".join(p.describe() for p in profiles)
    raise GsvTrtError(f"mel: batch {batch} x {frames} frames is outside every profile of this engine ({ranges}); "
                      "rebuild with larger --max-frames / --max-batch, or split the input")
