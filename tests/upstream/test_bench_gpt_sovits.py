"""tools/bench_gpt_sovits.py at tiny settings on the CPU: upstream's api_v2 served by uvicorn, one v4 request per
row at 2 CFM steps, stock then accelerated, on the session's random tree. It keeps the GPU benchmark's code path
working in CI; its numbers mean nothing (2 shared cores, fp32, sequential path).

Marked slow: 4 requests through the full-size CFM (337 M) at ~20 CPU-s each plus loading the pipeline take about
2-3 minutes on this project's 2-core machine; fewer requests would leave a mode or streaming unchecked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).parents[2] / "tools" / "bench_gpt_sovits.py"


@pytest.mark.slow
def test_bench_measures_stock_and_accelerated_api_v2_requests(workspace, tmp_path):
    out = tmp_path / "bench"
    command = [sys.executable, str(TOOL), "--workspace", str(workspace.root), "--out-dir", str(out),
               "--versions", "v4", "--steps", "2", "--warmup", "0", "--requests", "1", "--stream-requests", "1",
               "--concurrent-requests", "0", "--audio-seconds", "0.4", "--no-parallel-infer", "--device", "cpu",
               "--text", "你好，今日天氣好好。"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=TOOL.parents[1])
    assert done.returncode == 0, done.stderr[-3000:]

    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    env, rows = lines[0], lines[1:]
    assert env["kind"] == "environment" and env["weights"] == "RANDOM" and env["workspace"] == "reused"
    assert [(row["mode"], row["version"], row["steps"]) for row in rows] == [("stock", "v4", 2),
                                                                            ("accelerated", "v4", 2)]
    assert rows[0]["pipeline"].startswith("stock") and rows[1]["pipeline"].startswith("accelerated")
    for row in rows:
        assert row["weights"] == "RANDOM"
        assert 0.3 < row["audio_s"] < 2 and row["stream_audio_s"] == pytest.approx(row["audio_s"], abs=0.05)
        assert 0 < row["ttfa_s"]["p50"] < row["stream_total_s"]["p50"]
        share = row["share"]
        assert share["synthesis"] > 0.5 and share["t2s"] > 0 and share["text"] > 0  # every part was timed
        assert sum(share.values()) == pytest.approx(1)
    table = (out / "results.md").read_text()
    assert "RANDOM weights" in table and table.count("| v4 | 2 |") == 2
