"""Pass/fail for an optimised vocoder, per precision, and the order in which safer precisions are tried.

The bar: an optimised vocoder must be no worse than what GPT-SoVITS already ships, which on a GPU is the eager model
cast to fp16 (``is_half``). So fp16 and bf16 candidates are held to "upstream eager fp16 vs eager fp32", measured by
``tools/calibrate_thresholds.py`` (stored in ``gsv_trt/data/thresholds.json``) or, on a GPU, measured live on the
same clip and weights. A small margin (x1.25 on error-like metrics, 1 dB on SNR) absorbs run-to-run differences in
summation order; it is printed with every verdict. fp32 candidates compute the same math as the reference, so they
must also reach a rounding-only SNR.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources

from ..errors import GsvTrtError
from ..models.vocoder.loader import RANDOM_PROVENANCE
from .metrics import QualityMetrics

PRECISIONS = ("fp16", "bf16", "fp32")  # least to most safe: the fallback walks to the right
ERROR_MARGIN = 1.25  # allowed factor on error-like metrics (MSE-like: 1.25x is 0.97 dB)
SNR_MARGIN_DB = 1.0
# fp32 vs fp32 differs only in summation order: >= 60 dB (anchors-notes §5: "fp32 vs eager fp32, same math").
FP32_MIN_SNR_DB = 60.0
FP32_MIN_COSINE = 0.99999
THRESHOLDS_FILE = "thresholds.json"


@dataclass(frozen=True)
class Step:
    """One attempt of the fallback: a precision, with or without fp32 islands (precision-sensitive ops kept fp32)."""

    precision: str
    fp32_islands: bool

    @property
    def label(self) -> str:
        return f"{self.precision}+fp32-islands" if self.fp32_islands and self.precision != "fp32" else self.precision


def fallback_chain(requested: str, islands: bool = True) -> list[Step]:
    """The requested precision (with islands when the export supports them), then each safer one: fp16 -> bf16 ->
    fp32. bf16 keeps fp32's range, so it is the next try when fp16 overflows; fp32 always closes the chain."""
    if requested not in PRECISIONS:
        raise GsvTrtError(f"precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    chain = PRECISIONS[PRECISIONS.index(requested):]
    return [Step(p, islands and p != "fp32") for p in chain]


@dataclass(frozen=True)
class Thresholds:
    """The bar for one (version, precision): what a candidate must reach on every clip, and where it comes from."""

    version: str
    precision: str
    min_snr_db: float
    min_cosine: float
    max_log_mel_l1: float
    max_mr_stft: float
    source: str

    def describe(self) -> str:
        return (f"{self.version} {self.precision} bar: SNR >= {self.min_snr_db:.1f} dB, cosine >= "
                f"{self.min_cosine:.6f}, log-mel L1 <= {self.max_log_mel_l1:.4g}, MR-STFT <= {self.max_mr_stft:.4g} "
                f"({self.source})")

    def to_dict(self) -> dict:
        return asdict(self)


def bar_from_is_half(version: str, precision: str, is_half: dict | QualityMetrics, source: str) -> Thresholds:
    """Thresholds from a measurement of upstream's eager fp16 against eager fp32 (``is_half`` holds snr_db, cosine,
    log_mel_l1 and mr_stft), with the margins above; fp32 additionally needs a rounding-only SNR."""
    m = asdict(is_half) if isinstance(is_half, QualityMetrics) else is_half
    if not all(math.isfinite(float(m[k])) for k in ("snr_db", "cosine", "log_mel_l1", "mr_stft")):
        raise GsvTrtError(f"{source}: upstream eager fp16 gave non-finite metrics, no bar can be derived from it")
    snr = float(m["snr_db"]) - SNR_MARGIN_DB
    cos = 1.0 - (1.0 - float(m["cosine"])) * ERROR_MARGIN
    if precision == "fp32":
        snr, cos = max(snr, FP32_MIN_SNR_DB), max(cos, FP32_MIN_COSINE)
        source += f"; fp32 also needs SNR >= {FP32_MIN_SNR_DB:.0f} dB (same math, rounding only)"
    return Thresholds(version, precision, snr, cos, float(m["log_mel_l1"]) * ERROR_MARGIN,
                      float(m["mr_stft"]) * ERROR_MARGIN,
                      f"{source}; margin x{ERROR_MARGIN} on errors, -{SNR_MARGIN_DB:.0f} dB on SNR")


@lru_cache(maxsize=1)
def read_calibration() -> dict:
    """The shipped calibration written by tools/calibrate_thresholds.py."""
    text = (resources.files("gsv_trt") / "data" / THRESHOLDS_FILE).read_text()
    return json.loads(text)


def shipped_thresholds(version: str, precision: str, calibration: dict | None = None) -> Thresholds:
    """The bar from the shipped calibration (upstream eager fp16 vs fp32 on the bundled clip)."""
    cal = calibration or read_calibration()
    try:
        entry = cal["measured"][version]
    except KeyError:
        raise GsvTrtError(f"{THRESHOLDS_FILE}: no calibration for {version}") from None
    status = "PROVISIONAL (CPU) " if cal.get("provisional") else ""
    if entry["weights"].startswith("RANDOM") and entry["weights"] != RANDOM_PROVENANCE:
        status += ("STALE (measured on other random weights than today's; rerun tools/calibrate_thresholds.py on "
                   "a GPU) ")
    source = (f"{status}calibration {cal['date']}: upstream eager fp16 vs fp32 on {cal['device']}, "
              f"{entry['weights']}, {entry['audio']}")
    return bar_from_is_half(version, precision, entry["fp16"], source)


@dataclass(frozen=True)
class Check:
    metric: str
    value: float
    bar: float
    higher_is_better: bool

    @property
    def ok(self) -> bool:
        # NaN compares False both ways, so it always fails; +inf SNR (identical audio) passes
        return self.value >= self.bar if self.higher_is_better else self.value <= self.bar

    def __str__(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        verdict = "ok" if self.ok else "FAIL"
        return f"{self.metric} {self.value:.8g} {op} {self.bar:.8g}: {verdict}"  # 8 digits: cosines near 1 differ


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # every check with its verdict; failing ones first
    thresholds: Thresholds
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "thresholds": self.thresholds.to_dict()}


class Gate:
    """Evaluates one clip's metrics against one bar."""

    def __init__(self, thresholds: Thresholds):
        self.thresholds = thresholds

    @classmethod
    def shipped(cls, version: str, precision: str) -> "Gate":
        return cls(shipped_thresholds(version, precision))

    def evaluate(self, metrics: QualityMetrics) -> GateResult:
        t = self.thresholds
        if not metrics.finite:
            return GateResult(False, ["output contains NaN or Inf: FAIL"], t, [])
        checks = [
            Check("SNR dB", metrics.snr_db, t.min_snr_db, True),
            Check("cosine", metrics.cosine, t.min_cosine, True),
            Check("log-mel L1", metrics.log_mel_l1, t.max_log_mel_l1, False),
            Check("MR-STFT", metrics.mr_stft, t.max_mr_stft, False),
        ]
        ordered = [c for c in checks if not c.ok] + [c for c in checks if c.ok]
        return GateResult(all(c.ok for c in checks), [str(c) for c in ordered], t, checks)
