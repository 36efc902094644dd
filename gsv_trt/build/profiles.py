"""Optimization profiles: the ranges of batch and frames an engine accepts, sized for how GPT-SoVITS calls its vocoder
and its CFM. Every input of our graphs has a shape made of "batch", "frames" and fixed sizes (the ONNX's named dims),
so one profile (batch and frames ranges) gives the shapes of all inputs.

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

The CFM (``cfm_profiles``) is called once per chunk: the sequential path with batch 1 and T = T_ref + chunk <=
T_chunk (934 v3 / 1000 v4) frames, shorter for the last chunk and for short references; the batched path with all
chunks of a T2S batch in one call, batch = number of chunks (up to ``tensorrt_max_batch_size``, default 8) and T
exactly T_chunk. So there are two profiles: "sequential" (batch 1, any T up to the chunk) and "batched" (batch 2 to
max, tuned for T_chunk). Frames never exceed the DiT's 4096-entry position table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import GsvTrtError

MEL_BANDS = 100
DEFAULT_MIN_FRAMES = 1  # the models work for any T >= 1
DEFAULT_OPT_FRAMES = 1000  # one sequential CFM chunk (934 v3, 1000 v4)
DEFAULT_MAX_FRAMES = 16384  # ~175 s of v3 / ~164 s of v4 audio in one call
CFM_MAX_FRAMES = 1000  # one CFM chunk in both paths: T_chunk is 934 (v3) / 1000 (v4)
CFM_POSITIONS = 4096  # the DiT's text position table; upstream clamps beyond it, we refuse
CFM_OPT_BATCH = 4  # the batched path's typical chunk count (a T2S batch of a few segments)
DEFAULT_MAX_BATCH = 8
DEFAULT_SPLIT_FRAMES = 1024  # short/long boundary; 0 = a single profile
LONG_OPT_FRAMES = 3728  # the batched path's typical call: 8 chunks x 466 frames
WHY = ("two profiles bound activation memory: 'short' (batch up to max_batch, frames up to split) covers GPT-SoVITS's "
       "sequential path (~934/1000 frames) and short fragments (50-100); 'long' (batch 1) covers the batched path's "
       "single call on all chunks concatenated (e.g. 8 x 466 = 3728 frames)")
CFM_WHY = ("two profiles: 'sequential' (batch 1, frames up to one chunk) is GPT-SoVITS's per-segment path (T = "
           "T_ref + chunk <= T_chunk, shorter for the last chunk); 'batched' (batch 2 to max_batch, tuned for T_chunk) "
           "is its parallel_infer path, all chunks of a T2S batch in one call of exactly T_chunk frames")


@dataclass(frozen=True)
class Profile:
    """One optimization profile for input ``mel`` [batch, 100, frames]: (min, opt, max) of each dynamic axis."""

    name: str
    batch: tuple[int, int, int]
    frames: tuple[int, int, int]

    def shapes(self) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
        """min, opt, max shapes of the vocoder's ``mel`` as ``IOptimizationProfile.set_shape`` takes them."""
        return self.shapes_for(("batch", MEL_BANDS, "frames"))  # type: ignore[return-value]

    def shapes_for(self, dims: tuple[str | int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """min, opt, max shapes of an input whose dims are "batch", "frames" or fixed sizes."""
        def at(i: int) -> tuple[int, ...]:
            named = {"batch": self.batch[i], "frames": self.frames[i]}
            return tuple(named[d] if isinstance(d, str) else d for d in dims)

        return at(0), at(1), at(2)

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


def cfm_profiles(t_chunk: int, min_frames: int = DEFAULT_MIN_FRAMES, opt_frames: int | None = None,
                 max_frames: int = CFM_MAX_FRAMES, max_batch: int = DEFAULT_MAX_BATCH) -> list[Profile]:
    """"sequential" (batch 1) and, when ``max_batch`` > 1, "batched" (batch 2..max_batch); both tuned for
    ``opt_frames`` (default: the version's chunk ``t_chunk``, or ``max_frames`` when that is smaller)."""
    if opt_frames is None:
        opt_frames = max(min(t_chunk, max_frames), min_frames)
    if not 1 <= min_frames <= opt_frames <= max_frames:
        raise GsvTrtError(f"frames: need 1 <= min ({min_frames}) <= opt ({opt_frames}) <= max ({max_frames})")
    if max_frames > CFM_POSITIONS:
        raise GsvTrtError(f"--max-frames {max_frames}: the DiT's text position table has {CFM_POSITIONS} entries; "
                          f"a CFM call takes at most {CFM_POSITIONS} frames")
    if max_batch < 1:
        raise GsvTrtError(f"--max-batch {max_batch}: must be at least 1")
    profiles = [Profile("sequential", (1, 1, 1), (min_frames, opt_frames, max_frames))]
    if max_batch > 1:
        profiles.append(Profile("batched", (2, min(CFM_OPT_BATCH, max_batch), max_batch),
                                (min_frames, opt_frames, max_frames)))
    return profiles


def pick(profiles: list[Profile], batch: int, frames: int, name: str = "mel") -> int:
    """Index of the first profile covering ``batch`` x ``frames`` (profiles are ordered small to large)."""
    for i, profile in enumerate(profiles):
        if profile.covers(batch, frames):
            return i
    ranges = "; ".join(p.describe() for p in profiles)
    raise GsvTrtError(f"{name}: batch {batch} x {frames} frames is outside every profile of this engine ({ranges}); "
                      "rebuild with larger --max-frames / --max-batch, or split the input")
