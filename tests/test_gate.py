"""The gate: bars per precision from upstream's own fp16, pass/fail with reasons, and the fallback order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsv_trt.cli import main
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.quality.evaluate import QualityBench, eager
from gsv_trt.quality.gate import (ERROR_MARGIN, FP32_MIN_SNR_DB, SNR_MARGIN_DB, Gate, Step, bar_from_is_half,
                                  fallback_chain, read_calibration, shipped_thresholds)
from gsv_trt.quality.mel import default_clips
from gsv_trt.quality.metrics import QualityMetrics
from gsv_trt.runtime.base import RuntimeInfo

IS_HALF = {"snr_db": 50.0, "cosine": 0.99999, "log_mel_l1": 0.02, "mr_stft": 0.05}


def metrics(snr=50.0, cosine=0.99999, l1=0.02, mr=0.05, finite=True) -> QualityMetrics:
    return QualityMetrics(finite, cosine, 1e-9, snr, 1e-4, l1, mr, 1000)


def test_fallback_order():
    assert fallback_chain("fp16") == [Step("fp16", True), Step("bf16", True), Step("fp32", False)]
    assert [s.label for s in fallback_chain("bf16")] == ["bf16+fp32-islands", "fp32"]
    assert [s.label for s in fallback_chain("fp16", islands=False)] == ["fp16", "bf16", "fp32"]
    assert fallback_chain("fp32") == [Step("fp32", False)]
    with pytest.raises(GsvTrtError, match="precision"):
        fallback_chain("int8")


def test_bar_is_upstream_fp16_with_stated_margins():
    t = bar_from_is_half("v4", "fp16", IS_HALF, "test")
    assert t.min_snr_db == IS_HALF["snr_db"] - SNR_MARGIN_DB
    assert t.max_log_mel_l1 == pytest.approx(IS_HALF["log_mel_l1"] * ERROR_MARGIN)
    assert 1 - t.min_cosine == pytest.approx((1 - IS_HALF["cosine"]) * ERROR_MARGIN)
    assert "margin" in t.source and "test" in t.source
    # bf16 answers to the same is_half bar; fp32 must also reach a rounding-only SNR
    assert bar_from_is_half("v4", "bf16", IS_HALF, "test").min_snr_db == t.min_snr_db
    assert bar_from_is_half("v4", "fp32", IS_HALF, "test").min_snr_db == FP32_MIN_SNR_DB


def test_no_worse_than_is_half_passes_and_worse_fails_with_reasons():
    gate = Gate(bar_from_is_half("v4", "fp16", IS_HALF, "test"))
    assert gate.evaluate(metrics()).passed
    result = gate.evaluate(metrics(snr=45.0, l1=0.04))
    assert not result.passed
    assert result.reasons[0].startswith("SNR dB 45") and result.reasons[0].endswith("FAIL")
    assert any(r.startswith("log-mel L1") and r.endswith("FAIL") for r in result.reasons)
    assert any(r.endswith("ok") for r in result.reasons)  # the checks that passed are listed too
    assert gate.evaluate(metrics(snr=math.inf, cosine=1.0, l1=0.0, mr=0.0)).passed  # identical output
    nan = gate.evaluate(metrics(finite=False))
    assert not nan.passed and "NaN" in nan.reasons[0]


def test_shipped_calibration_names_its_source():
    cal = read_calibration()
    for version in ("v3", "v4"):
        t = shipped_thresholds(version, "fp16")
        assert cal["date"] in t.source and cal["device"] in t.source
        assert t.min_snr_db == pytest.approx(cal["measured"][version]["fp16"]["snr_db"] - SNR_MARGIN_DB)
        assert ("PROVISIONAL" in t.source) == bool(cal["provisional"])


def test_calibration_on_other_random_weights_is_called_stale():
    from gsv_trt.models.vocoder.loader import RANDOM_PROVENANCE

    cal = read_calibration()
    old = {**cal, "measured": {"v4": {**cal["measured"]["v4"], "weights": "RANDOM weights (seed 0; upstream init)"}}}
    assert "STALE" in shipped_thresholds("v4", "fp16", old).source
    fresh = {**cal, "measured": {"v4": {**cal["measured"]["v4"], "weights": RANDOM_PROVENANCE}}}
    assert "STALE" not in shipped_thresholds("v4", "fp16", fresh).source


def test_cpu_onnxruntime_half_scores_say_what_they_do_not_show():
    from types import SimpleNamespace

    from gsv_trt.quality.candidate import runtime_note

    def note(name, precision, device):
        return runtime_note(SimpleNamespace(info=RuntimeInfo(name, precision, device)))

    assert "largely in fp32" in note("onnxruntime", "fp16", "cpu")
    assert note("onnxruntime", "fp32", "cpu") == note("onnxruntime", "fp16", "cuda") == note("tensorrt", "fp16",
                                                                                             "H200") == ""


class Degraded:
    """A real vocoder made worse on purpose: its output plus white noise at ``snr_db``."""

    def __init__(self, inner, snr_db: float, precision: str):
        self.inner, self.snr_db, self.hop = inner, snr_db, inner.hop
        self.info = RuntimeInfo("degraded", precision, "cpu", f"+noise at {snr_db} dB")

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        y = self.inner(mel)
        noise = np.random.default_rng(0).standard_normal(y.shape)
        noise *= np.sqrt(np.mean(y**2) / np.mean(noise**2) / 10 ** (self.snr_db / 10))
        return (y + noise).astype(np.float32)


@pytest.fixture(scope="module")
def bench():
    loaded = load_vocoder("v4")
    return QualityBench(loaded, default_clips(loaded.spec, max_seconds=0.3), "cpu", "shipped")


def test_degraded_candidate_fails_and_clean_one_passes(bench):
    clean = eager(bench.loaded, "fp32", "cpu")
    assert bench.score(clean, "clean", "fp16").passed
    bad = bench.score(Degraded(clean, 30.0, "fp16"), "noisy", "fp16")
    assert not bad.passed and any("SNR dB" in r and "FAIL" in r for r in bad.reasons)
    broken = bench.score(None, "unbuildable", "fp16", error="export failed: test")
    assert not broken.passed and broken.reasons == ["could not run: export failed: test"]


def test_fallback_walks_to_the_first_precision_that_passes(bench):
    from gsv_trt.bench.optimize import gate_with_fallback

    clean = eager(bench.loaded, "fp32", "cpu")

    def prepare(attempt):  # fp16 and bf16 deliberately degraded, fp32 clean
        p = attempt.step.precision
        return (clean if p == "fp32" else Degraded(clean, 25.0, p)), f"{p} candidate", None

    attempts, chosen = gate_with_fallback(fallback_chain("fp16"), bench, prepare, say=lambda s: None)
    assert [a.step.label for a in attempts] == ["fp16+fp32-islands", "bf16+fp32-islands", "fp32"]
    assert chosen is attempts[-1] and chosen.passed
    assert not attempts[0].passed and "SNR dB" in attempts[0].score.reasons[0]


def test_quality_command_exit_status(capsys):
    assert main(["quality", "eager-fp32", "--version", "v4", "--clip-seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "bar SNR >=" in out
    assert ("CPU (no GPU found)" in out) == (not torch.cuda.is_available())
    # upstream's own bf16 is below the is_half bar: the gate says so and the command fails
    assert main(["quality", "eager-bf16", "--version", "v4", "--clip-seconds", "0.3", "--bar", "shipped"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["quality", "nonsense", "--version", "v4"]) == 2
