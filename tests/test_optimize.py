"""``gsv-trt optimize`` end to end: export, engine, gate, benchmark, report, honest about what ran where."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gsv_trt.cli import main

HAS_GPU = torch.cuda.is_available()
HAS_RTX = importlib.util.find_spec("tensorrt_rtx") is not None


def run_optimize(tmp: Path, version: str) -> tuple[int, Path, dict]:
    rc = main(["optimize", "--version", version, "--precision", "fp16", "--quick",
               "--work-dir", str(tmp / "engines"), "--out-dir", str(tmp / "reports")])
    (directory,) = (tmp / "reports").iterdir()
    return rc, directory, json.loads((directory / "report.json").read_text())


@pytest.fixture(scope="module")
def v4_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("optimize_v4")
    return (tmp, *run_optimize(tmp, "v4"))


def test_optimize_v4_chooses_a_precision_and_says_why(v4_run):
    _, rc, _, report = v4_run
    opt = report["optimize"]
    assert rc == 0 and opt["chosen"] in opt["chain"]
    assert opt["chain"][0] == "fp16+fp32-islands" and opt["chain"][-1] == "fp32"
    chosen = next(a for a in opt["attempts"] if a["step"] == opt["chosen"])
    assert chosen["passed"] and chosen["onnx"] and Path(chosen["onnx"]).exists()
    assert opt["chosen"] in opt["why"]
    bars = {c["gate"]["thresholds"]["source"] for c in chosen["score"]["clips"]}
    assert bars and all("margin" in b for b in bars)  # every verdict carries the bar it was held to


@pytest.mark.skipif(HAS_GPU, reason="checks the CPU-only behaviour")
def test_optimize_on_cpu_measures_only_what_runs(v4_run):
    _, _, directory, report = v4_run
    first = report["optimize"]["attempts"][0]
    if HAS_RTX:  # TensorRT-RTX builds ahead of time without a GPU, but the engine cannot run here
        assert first["engine"] and first["engine_cannot_run"] and "GPU" in first["engine_cannot_run"]
    assert first["score"]["runtime"]["name"] == "onnxruntime"
    assert "quality measured with ONNX Runtime" in first["score"]["note"]
    measured = {r["key"] for r in report["bench"]["runtimes"] if r["lengths"]}
    assert "torch-eager fp32" in measured and not any(k.startswith(("tensorrt", "torch-fast")) for k in measured)
    assert report["summary"]["baseline"]["runtime"] == "torch-eager fp32"
    md = (directory / "report.md").read_text()
    assert "CPU (no GPU found): numbers are CPU numbers" in md and "RANDOM weights" in md
    assert {"latency_vs_length.png", "quality.png"} <= set(report["plots"])


def test_second_run_reuses_onnx_and_engine(v4_run):
    from gsv_trt.bench.environment import detect
    from gsv_trt.bench.optimize import Attempt, build_step, export_step
    from gsv_trt.models.vocoder import load_vocoder
    from gsv_trt.quality.gate import fallback_chain

    tmp, _, _, report = v4_run
    chosen = next(a for a in report["optimize"]["attempts"] if a["passed"])
    step = next(s for s in fallback_chain("fp16") if s.label == chosen["step"])
    attempt = Attempt(step)
    export_step(load_vocoder("v4"), step, tmp / "engines", attempt)
    assert attempt.onnx_reused and str(attempt.onnx) == chosen["onnx"]
    if chosen["engine"]:
        build_step(attempt, "auto", detect(), tmp / "engines")
        assert attempt.engine is not None and not attempt.engine_built and attempt.build_s is None


@pytest.mark.slow
def test_optimize_v3_end_to_end(tmp_path):
    rc, directory, report = run_optimize(tmp_path, "v3")
    assert rc == 0 and report["vocoder"]["version"] == "v3"
    assert (directory / "report.md").exists()
