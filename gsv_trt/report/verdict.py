"""What a benchmark's timings can and cannot support: a speed verdict only when the difference between two runtimes
is larger than the spread each was measured with, and flags on figures that look wrong.

Spread is p5-p95 of the timed calls. A verdict needs at least ``MIN_REPEATS`` of them (fewer say nothing about
spread) and is never drawn from ``--quick`` (a smoke test of one short length). Anomalies are flagged, not hidden:
a first (warm-up) call clearly faster than the median, a p5-p95 range wider than half the median, and a cost per
second of audio that falls steeply with length while the short call is long enough to be compute-bound (on a GPU,
short calls are launch-bound and cost more per second for a known reason; a 1 s CPU call is not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_REPEATS = 5
FIRST_CALL_MARGIN = 0.95  # a first call (compiles, allocates) faster than 95 % of the p50: the timed calls were slowed
NOISY_SPREAD = 0.5  # (p95 - p5) / p50 above this: too noisy to read much into
STEEP_COST_FALL = 2.0  # cost per audio second falling more than this between two lengths ...
COMPUTE_BOUND_MS = 100.0  # ... while the shorter call takes at least this long


@dataclass(frozen=True)
class Spread:
    """p5, p50 and p95 of one runtime's timed calls at one length, in ms."""

    p5: float
    p50: float
    p95: float
    n: int

    @classmethod
    def of(cls, timing: dict) -> "Spread":
        p5, p50, p95 = np.percentile(timing["samples_ms"], [5, 50, 95])
        return cls(float(p5), float(p50), float(p95), len(timing["samples_ms"]))

    def describe(self) -> str:
        return f"p50 {self.p50:.2f} ms (p5-p95 {self.p5:.2f}-{self.p95:.2f}, {self.n} calls)"


def why_no_verdict(settings: dict) -> str | None:
    """Why the run's settings cannot support a speed verdict, or None."""
    if settings.get("quick"):
        return "--quick is a smoke run (one short length, too few calls): it measures nothing reliably"
    if settings["repeats"] < MIN_REPEATS:
        return (f"{settings['repeats']} timed calls per length cannot show a spread; a verdict needs at least "
                f"{MIN_REPEATS} (--repeats)")
    return None


def compare(baseline: Spread, candidate: Spread) -> str:
    """``faster`` / ``slower`` when the candidate's p5-p95 range lies wholly below / above the baseline's, else
    ``same`` (the difference is not larger than the measured spread)."""
    if candidate.p95 < baseline.p5:
        return "faster"
    if candidate.p5 > baseline.p95:
        return "slower"
    return "same"


def anomalies(runtime: dict) -> list[str]:
    """Figures of one measured runtime that deserve a second look, each as a sentence."""
    key = f"{runtime['name']} {runtime['precision']}"
    found = []
    lengths = sorted(runtime["lengths"], key=lambda length: length["audio_s"])
    for length in lengths:
        spread = Spread.of(length["timing"])
        warmup = length["timing"]["warmup_ms"]
        at = f"{key} at {length['name']}"
        if warmup and warmup[0] < FIRST_CALL_MARGIN * spread.p50:
            found.append(f"{at}: the first (warm-up) call took {warmup[0]:.2f} ms, less than the p50 of "
                         f"{spread.p50:.2f} ms; the timed calls were probably slowed by something else")
        if spread.n >= MIN_REPEATS and spread.p95 - spread.p5 > NOISY_SPREAD * spread.p50:
            found.append(f"{at}: noisy, p5-p95 {spread.p5:.2f}-{spread.p95:.2f} ms around a p50 of "
                         f"{spread.p50:.2f} ms")
    for short, long in zip(lengths, lengths[1:]):
        short_ms, long_ms = short["timing"]["p50_ms"], long["timing"]["p50_ms"]
        fall = (short_ms / short["audio_s"]) / (long_ms / long["audio_s"])
        if fall > STEEP_COST_FALL and short_ms >= COMPUTE_BOUND_MS:
            found.append(f"{key}: {short['name']} ({short['audio_s']:.2f} s of audio) took {short_ms:.1f} ms but "
                         f"{long['name']} ({long['audio_s']:.2f} s) took {long_ms:.1f} ms: per second of audio "
                         f"{fall:.1f}x dearer for the shorter call, which is compute-bound; a disturbed measurement "
                         "or a large fixed cost per call")
    return found
