"""`gsv-trt bench --stage cfm`: upstream's own CFM (from the GPT-SoVITS checkout) and ours run the same weights,
conditioning and noise; the quality gate holds each mode to upstream's fp16; what cannot run says why; bad options
are one line. CPU runs use a reduced-width DiT and a few frames; the GPU test runs torch-fast."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from gsv_trt.bench.cfm import CfmBenchOptions, fast_options, parse_modes, parse_rows, run_cfm_bench
from gsv_trt.bench.stage_rows import print_rows, write_rows
from gsv_trt.bench.upstream_code import load_upstream
from gsv_trt.cli import main
from gsv_trt.commands._bench_options import add_cfm_rows
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm.config import DiTConfig

SMALL = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)
CHECKOUT = Path(os.environ.get("GSV_TRT_UPSTREAM", Path(__file__).parents[2] / "shared" / "upstream" / "GPT-SoVITS"))


def upstream_root() -> Path:
    """The GPT-SoVITS checkout whose CFM imports here (x_transformers installed), else a visible skip."""
    code, why = load_upstream(CHECKOUT if CHECKOUT.is_dir() else None)
    if code is None:
        pytest.skip(f"upstream's CFM not importable: {why}")
    return CHECKOUT


def by_mode(result: dict) -> dict[str, dict]:
    return {r["mode"]: r for r in result["rows"]}


def test_upstream_and_ours_run_the_same_weights_and_noise(capsys):
    result = run_cfm_bench(CfmBenchOptions(
        rows=parse_rows("v4:1:40:2"), config=SMALL, gpt_sovits_root=upstream_root(), repeats=1, upstream_repeats=1,
        modes=parse_modes("upstream-fp32,upstream-fp16,eager-fp32,eager-fp16,torch-fast-fp16,upstream-compile-bf16")))
    rows = by_mode(result)
    assert rows["upstream-fp32"]["gate"] == "reference" and rows["upstream-fp32"]["reference"] == "upstream eager fp32"
    # our eager fp32 gives upstream's output exactly: same weights, conditioning and noise reached both
    assert rows["eager-fp32"]["snr_db"] == math.inf and rows["eager-fp32"]["l1"] == 0
    bar = rows["upstream-fp16"]
    assert bar["gate"] == "bar" and 20 < bar["snr_db"] < 120 and bar["l1"] > 0
    assert rows["eager-fp16"]["gate"] == "pass" and rows["eager-fp32"]["gate"] == "pass"
    assert rows["eager-fp16"]["x_vs_upstream_fp16"] > 0 and "verdict" in rows["eager-fp16"]
    if not torch.cuda.is_available():
        assert rows["torch-fast-fp16"]["status"] == "skipped" and "CUDA" in rows["torch-fast-fp16"]["reason"]
        assert rows["upstream-compile-bf16"]["status"] == "skipped"
    for row in result["rows"]:
        assert "RANDOM" in row["weights"] and row["torch"] == torch.__version__ and "triton" in row
        if row["status"] == "ran":
            assert row["p5_ms"] <= row["p50_ms"] <= row["p95_ms"] and row["first_call_s"] > 0


def test_without_a_checkout_upstream_rows_say_why_and_ours_are_gated(tmp_path, capsys):
    result = run_cfm_bench(CfmBenchOptions(rows=parse_rows("v3:2:24:2"), config=SMALL, repeats=1,
                                           modes=parse_modes("upstream-fp16,eager-fp32,eager-fp16")))
    rows = by_mode(result)
    assert rows["upstream-fp16"]["status"] == "skipped" and "--gpt-sovits-root" in rows["upstream-fp16"]["reason"]
    assert rows["eager-fp32"]["gate"] == "reference" and rows["eager-fp16"]["gate"] == "bar"
    assert rows["eager-fp16"]["reference"].startswith("our eager fp32 (upstream's code absent")
    write_rows(tmp_path, "cfm", result)
    lines = [json.loads(line) for line in (tmp_path / "cfm.jsonl").read_text().splitlines()]
    assert [r["mode"] for r in lines] == ["upstream-fp16", "eager-fp32", "eager-fp16"]
    markdown = (tmp_path / "cfm.md").read_text()
    assert "| v3 B2 T24 2 steps | eager-fp16 |" in markdown and "RANDOM weights" in markdown
    print_rows(result["title"], result["rows"], result["columns"], result["header"])
    out = capsys.readouterr().out
    assert "no GPT-SoVITS checkout given" in out and max(map(len, out.splitlines())) > 80  # not cut when piped
    # gsv-trt optimize --stage all: the CFM table beside the vocoder's, in the same report
    (tmp_path / "report.md").write_text("# gsv-trt optimize: GPT-SoVITS v3 vocoder\n")
    add_cfm_rows({"kind": "optimize"}, tmp_path, result)
    report_md = (tmp_path / "report.md").read_text()
    assert report_md.startswith("# gsv-trt optimize") and "## CFM mel generator" in report_md
    assert "| v3 B2 T24 2 steps | eager-fp32 |" in report_md
    assert json.loads((tmp_path / "report.json").read_text())["cfm"]["rows"][1]["snr_db"] == "inf"


@pytest.mark.parametrize("argv, message", [
    (["--rows", "v5:1:100:8"], "--rows 'v5:1:100:8': expected version:batch:frames:steps"),
    (["--rows", "v4:1:100"], "--rows 'v4:1:100': expected"),
    (["--modes", "upstream-fp16,turbo"], "--modes 'upstream-fp16,turbo': expected a comma list"),
    (["--onnx", "x.onnx"], "--onnx: applies to --stage vocoder only"),
])
def test_bad_options_are_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    code = main(["bench", "--stage", "cfm", "--out-dir", str(tmp_path / "reports"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists()


def test_suite_options_are_refused_for_the_vocoder(tmp_path, capsys):
    code = main(["bench", "--version", "v4", "--rows", "v4:1:100:8", "--out-dir", str(tmp_path)])
    assert code == 2 and "--rows: applies to the CFM and synthesis stages only" in capsys.readouterr().err
    code = main(["optimize", "--version", "v4", "--sovits-weights", "s2Gv4.pth", "--out-dir", str(tmp_path)])
    assert code == 2 and "--sovits-weights: applies to the CFM and synthesis stages only" in capsys.readouterr().err
    # optimize --stage all checks the CFM options before the vocoder's chain starts
    code = main(["optimize", "--version", "v4", "--stage", "all", "--modes", "fastest", "--out-dir", str(tmp_path)])
    assert code == 2 and "--modes 'fastest'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_rows_parse():
    assert [r.label for r in parse_rows("v4:1:1000:32, v3:4:934:8")] == ["v4 B1 T1000 32 steps", "v3 B4 T934 8 steps"]
    assert parse_rows("v4:1:1000:32")[0].prompt_frames == 500 and parse_rows("v4:1:40:2")[0].prompt_frames == 20
    with pytest.raises(GsvTrtError):
        parse_rows("v4:0:1000:32")


def test_mode_suffixes_pick_the_runtime_choices():
    """The default is our attention with (in fp16) a half residual stream; suffixes select the measured others."""
    default = fast_options("torch-fast-fp16")
    assert (default.attention, default.residual_half, default.graph_scope) == ("triton", None, "loop")
    old = fast_options("torch-fast-fp16-flashattn-res32-stepgraph")
    assert (old.attention, old.residual_half, old.graph_scope) == ("flash", False, "step")
    assert fast_options("torch-fast-bf16-cudnn-nlc-cudnnattn").conv == "cudnn-nlc"
    assert fast_options("torch-fast-fp16-fast") is None and fast_options("eager-fp16") is None
    with pytest.raises(GsvTrtError):
        parse_modes("torch-fast-fp16-flashattention")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_fast_passes_the_gate_on_a_gpu(tmp_path):
    code, _ = load_upstream(CHECKOUT if CHECKOUT.is_dir() else None)
    modes = "upstream-fp16,torch-fast-fp16" if code else "eager-fp16,torch-fast-fp16"
    argv = ["bench", "--stage", "cfm", "--rows", "v4:1:300:8", "--modes", modes, "--repeats", "5",
            "--upstream-repeats", "2", "--out-dir", str(tmp_path)]
    assert main(argv + (["--gpt-sovits-root", str(CHECKOUT)] if code else [])) == 0
    rows = {r["mode"]: r for r in map(json.loads, next(tmp_path.glob("*/cfm.jsonl")).read_text().splitlines())}
    fast = rows["torch-fast-fp16"]
    assert fast["status"] == "ran" and fast["gate"] == "pass" and fast["capture_s"] > 0 and fast["gpu"]
    assert fast["x_vs_upstream_fp16" if code else "snr_db"] > 1
