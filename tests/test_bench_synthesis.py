"""`gsv-trt bench --stage synthesis`: upstream's own synthesis functions (TTS.py's methods, from the GPT-SoVITS
checkout) and our SynthesisStage get the same weights and inputs (on the CPU in fp32 with the same seed they make
the same audio), our rows carry the per-part breakdown and streaming's time to first audio, and what cannot run
says why. Reduced-width CFM and vocoders, a 3.1 s reference, a fraction of a second of audio."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest
import soundfile as sf
import torch

from gsv_trt.bench.synthesis import (OurSynthesis, Parts, SynthesisBenchOptions, UpstreamSynthesis, make_request,
                                     parse_modes, parse_rows, run_synthesis_bench)
from gsv_trt.bench.upstream_code import load_upstream, tts_methods
from gsv_trt.cli import main
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import CFM, DiTConfig
from gsv_trt.models.cfm.init import spread_init
from gsv_trt.models.cfm.loader import LoadedCFM
from gsv_trt.models.mel import shipped_speech
from gsv_trt.models.sovits.frontend_loader import random_frontend
from test_synthesis_stage import small_vocoder

SMALL = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)
CHECKOUT = Path(os.environ.get("GSV_TRT_UPSTREAM", Path(__file__).parents[2] / "shared" / "upstream" / "GPT-SoVITS"))


@lru_cache(maxsize=None)
def small_parts(version: str) -> Parts:
    """The real front end (random), a reduced-width CFM, the shipped reduced-width vocoder."""
    return Parts(random_frontend(version), LoadedCFM(spread_init(CFM(SMALL), 21).eval(), version, "random", "-", True),
                 small_vocoder(version))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    samples, rate = sf.read(shipped_speech(), dtype="float32")
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(path, samples[: int(3.1 * rate)], rate)
    return path


def test_upstream_functions_and_our_stage_make_the_same_audio(clip):
    code, why = load_upstream(CHECKOUT if CHECKOUT.is_dir() else None)
    if code is None:
        pytest.skip(f"upstream's code not importable: {why}")
    cpu = torch.device("cpu")
    parts, row = small_parts("v4"), parse_rows("v4:0.4:2")[0]
    x = make_request(row, clip, cpu)
    upstream = UpstreamSynthesis(code, tts_methods(code), "v4", parts, cpu)
    ours = OurSynthesis("v4", parts, cpu)
    assert upstream.runtime.startswith("upstream eager fp32") and "torch-eager fp32" in ours.runtime
    torch.manual_seed(5)
    theirs = upstream.call("sequential", x, row.steps)()
    torch.manual_seed(5)
    mine = ours.call("sequential", x, row.steps)()
    assert len(theirs) == len(mine) == 1 and theirs[0].shape == mine[0].shape
    assert theirs[0].shape[0] == row.tokens * 4 * 480  # 4 mel frames a token, 480 samples a frame
    assert torch.allclose(theirs[0], mine[0], atol=1e-4) and theirs[0].abs().max() > 1e-3


def test_our_rows_have_parts_and_first_audio_and_upstream_rows_say_why(clip, tmp_path, capsys):
    result = run_synthesis_bench(SynthesisBenchOptions(
        rows=parse_rows("v4:0.4:2"), modes=parse_modes("upstream-batched,stream"), repeats=1,
        reference=clip, parts=small_parts))
    rows = {r["mode"]: r for r in result["rows"]}
    assert rows["upstream-batched"]["status"] == "skipped" and "--gpt-sovits-root" in rows["upstream-batched"]["reason"]
    row = rows["stream"]
    assert row["status"] == "ran" and row["finite"] and row["audio_s"] == pytest.approx(0.4, abs=0.01)
    assert row["cfm_ms"] > 0 and row["vocoder_ms"] > 0 and row["front_end_ms"] > 0 and "RANDOM" in row["weights"]
    assert 0 < row["first_audio_p50_ms"] and row["calls"] == 1
    from gsv_trt.bench.stage_rows import write_rows

    write_rows(tmp_path, "synthesis", result)
    assert [json.loads(line)["mode"] for line in (tmp_path / "synthesis.jsonl").read_text().splitlines()] == \
        ["upstream-batched", "stream"]
    assert "first audio ms" in (tmp_path / "synthesis.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--rows", "v4:0:8"], "--rows 'v4:0:8': expected version:seconds:steps"),
    (["--rows", "v2:10:8"], "--rows 'v2:10:8': expected"),
    (["--modes", "batched,fastest"], "--modes 'batched,fastest': expected a comma list"),
    (["--lengths", "short"], "--lengths: applies to --stage vocoder only"),
])
def test_bad_options_are_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    code = main(["bench", "--stage", "synthesis", "--out-dir", str(tmp_path / "reports"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "reports").exists()


def test_default_rows_are_the_issue_s_table():
    rows = parse_rows("v4:10:32,v3:30:8")
    assert [r.label for r in rows] == ["v4 10 s 32 steps", "v3 30 s 8 steps"] and rows[0].tokens == 250
    with pytest.raises(GsvTrtError):
        parse_rows("")
