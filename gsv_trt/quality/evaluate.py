"""Run a candidate and the fp32 eager reference on the same real-speech mels, score it, and gate it.

The reference is computed once per clip and reused for every candidate. On a GPU the bar can be measured live
("what does upstream's own eager fp16 do on this clip with these weights?"), which is the most direct form of
"no worse than is_half"; elsewhere the shipped calibration is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..models.vocoder import LoadedVocoder
from ..runtime.base import RuntimeInfo, Vocoder
from .gate import Gate, GateResult, Thresholds, bar_from_is_half, shipped_thresholds
from .mel import Clip, output_mel_settings
from .metrics import QualityMetrics, compare


def upstream_fp32_settings() -> str:
    """Turn TF32 off as upstream's ``TTS.set_seed`` does on every request, so fp32 means IEEE fp32 on the GPU."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return "TF32 off (as upstream's TTS.set_seed)"


def eager(loaded: LoadedVocoder, precision: str, device: str) -> Vocoder:
    """Upstream's way of running the vocoder: the whole module cast to ``precision``, eager."""
    from ..runtime.vocoder.torch_eager import TorchEagerVocoder

    if precision == "fp32":
        upstream_fp32_settings()
    return TorchEagerVocoder(loaded, precision, device)


@dataclass
class ClipScore:
    clip: str
    frames: int
    metrics: QualityMetrics
    gate: GateResult

    def to_dict(self) -> dict:
        return {"clip": self.clip, "frames": self.frames, "metrics": self.metrics.to_dict(),
                "gate": self.gate.to_dict()}


@dataclass
class CandidateScore:
    """One candidate's verdict over all clips, or why it could not be scored."""

    label: str  # what was tried, e.g. "fp16+fp32-islands"
    precision: str
    info: RuntimeInfo | None  # what actually produced the audio
    scores: list[ClipScore] = field(default_factory=list)
    error: str | None = None  # it could not run
    note: str = ""  # e.g. why a proxy runtime stands in for the engine

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.scores) and all(s.gate.passed for s in self.scores)

    @property
    def reasons(self) -> list[str]:
        if self.error is not None:
            return [f"could not run: {self.error}"]
        failing = [f"{s.clip}: {r}" for s in self.scores if not s.gate.passed for r in s.gate.reasons
                   if r.endswith("FAIL")]
        return failing or ["all checks passed on every clip"]

    def worst(self) -> dict[str, float]:
        """The worst value of each metric over the clips (what the summary prints)."""
        ms = [s.metrics for s in self.scores]
        if not ms:
            return {}
        return {"cosine": min(m.cosine for m in ms), "mse": max(m.mse for m in ms),
                "snr_db": min(m.snr_db for m in ms), "max_abs": max(m.max_abs for m in ms),
                "log_mel_l1": max(m.log_mel_l1 for m in ms), "mr_stft": max(m.mr_stft for m in ms)}

    def to_dict(self) -> dict:
        worst = {k: (v if math.isfinite(v) else str(v)) for k, v in self.worst().items()}
        return {"label": self.label, "precision": self.precision, "passed": self.passed, "error": self.error,
                "note": self.note, "runtime": asdict(self.info) if self.info else None, "worst": worst,
                "reasons": self.reasons, "clips": [s.to_dict() for s in self.scores]}


def _bar(items: list, desc: str):
    """A progress bar over clips on a terminal (long clips take minutes on a CPU); plain iteration elsewhere."""
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", disable=None, leave=False)


class QualityBench:
    """The reference outputs and bars for one vocoder and set of clips; scores any number of candidates."""

    def __init__(self, loaded: LoadedVocoder, clips: list[Clip], device: str = "cpu", bar: str = "auto"):
        self.loaded = loaded
        self.clips = clips
        self.device = device
        self.output_mel = output_mel_settings(loaded.spec)
        self.bar = ("live" if device.startswith("cuda") else "shipped") if bar == "auto" else bar
        self.reference = eager(loaded, "fp32", device)
        self._ref_out: list[np.ndarray] = [self.reference(c.mel) for c in _bar(clips, "reference: eager fp32")]
        self._is_half: list[QualityMetrics] | None = None

    def is_half_metrics(self) -> list[QualityMetrics]:
        """Upstream eager fp16 vs eager fp32 on each clip (computed once)."""
        if self._is_half is None:
            fp16 = eager(self.loaded, "fp16", self.device)
            self._is_half = [compare(ref, fp16(c.mel), self.output_mel) for c, ref in zip(self.clips, self._ref_out)]
        return self._is_half

    def thresholds(self, precision: str, clip_index: int) -> Thresholds:
        version = self.loaded.spec.version
        if self.bar == "shipped":
            return shipped_thresholds(version, precision)
        measured = self.is_half_metrics()[clip_index]
        if not measured.finite:  # upstream's own fp16 breaks on this clip: no live bar, the shipped one stands in
            t = shipped_thresholds(version, precision)
            return replace(t, source=f"upstream eager fp16 gave NaN/Inf on {self.clips[clip_index].name}, so: "
                                     f"{t.source}")
        source = (f"measured now: upstream eager fp16 vs fp32 on {self.clips[clip_index].name}, "
                  f"{self.reference.info.device}, {self.loaded.provenance}")
        return bar_from_is_half(version, precision, measured, source)

    def score(self, candidate: Vocoder | None, label: str, precision: str, note: str = "",
              error: str | None = None) -> CandidateScore:
        """Run ``candidate`` on every clip and gate it; a candidate that cannot run (or is None, with ``error``
        saying why) fails with that reason."""
        result = CandidateScore(label, precision, getattr(candidate, "info", None), note=note, error=error)
        if candidate is None:
            return result
        for i, (clip, ref) in enumerate(zip(_bar(self.clips, f"quality: {label}"), self._ref_out)):
            try:
                out = candidate(clip.mel)
            except Exception as e:  # any runtime failure is a gate failure with its reason, not a crash
                result.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                return result
            metrics = compare(ref, out, self.output_mel)
            result.scores.append(ClipScore(clip.name, clip.frames, metrics,
                                           Gate(self.thresholds(precision, i)).evaluate(metrics)))
        return result
