"""Speed verdicts claim only what was measured: a difference beyond the spread, enough calls, no --quick; odd
figures are flagged (issue 15, item 4). Reports here are built from timings, as `bench` records them."""

import numpy as np

from gsv_trt.report.summary import compute_summary
from gsv_trt.report.verdict import Spread, anomalies, compare


def length(name: str, audio_s: float, samples_ms: list[float], first_ms: float | None = None) -> dict:
    p50 = float(np.percentile(samples_ms, 50))
    timing = {"method": "perf_counter", "samples_ms": samples_ms, "warmup_ms": [first_ms or 2 * max(samples_ms)],
              "p50_ms": p50, "p95_ms": float(np.percentile(samples_ms, 95)), "mean_ms": float(np.mean(samples_ms))}
    return {"name": name, "frames": int(audio_s * 100), "audio_s": audio_s, "x_real_time": audio_s / (p50 / 1e3),
            "timing": timing, "throughput": [{"batch": 1, "p50_ms": p50, "requests_per_s": 1e3 / p50,
                                              "audio_s_per_s": audio_s * 1e3 / p50}], "batch_limit": ""}


def runtime(name: str, precision: str, role: str, lengths: list[dict]) -> dict:
    return {"name": name, "precision": precision, "role": role, "skipped": None, "error": None, "io": "numpy in/out",
            "info": {"name": name, "precision": precision, "device": "cpu", "detail": ""}, "lengths": lengths,
            "key": f"{name} {precision}"}


def report(eager_ms: list[float], ort_ms: list[float], repeats: int | None = None, quick: bool = False) -> dict:
    n = repeats or len(eager_ms)
    passed = {"label": "onnxruntime fp16", "passed": True, "reasons": [], "note": "",
              "runtime": {"name": "onnxruntime", "precision": "fp16"}, "worst": {"cosine": 1.0, "mse": 0.0},
              "clips": []}
    return {"vocoder": {"provenance": "RANDOM weights", "random_weights": True},
            "quality": [passed],
            "bench": {"environment": {"device": "cpu", "label": "CPU (no GPU found)"},
                      "settings": {"repeats": n, "warmup": 1, "max_batch": 1, "batch_repeats": 1, "quick": quick,
                                   "lengths": {"chunk": 10.0}},
                      "runtimes": [runtime("torch-eager", "fp32", "upstream", [length("chunk", 10.0, eager_ms)]),
                                   runtime("onnxruntime", "fp16", "optimized", [length("chunk", 10.0, ort_ms)])]}}


def test_a_clear_difference_gives_a_verdict_and_time_saved():
    s = compute_summary(report([1000, 1010, 990, 1005, 995], [500, 505, 495, 502, 498]))
    assert s["verdict"].startswith("use onnxruntime fp16: 2.00x faster")
    assert s["time_saved_s_per_audio_hour"] == 180.0  # (1000 - 500) ms per 10 s of audio


def test_a_difference_within_the_spread_is_no_verdict():
    # 1.00x, as in the issue: the old summary said "use onnxruntime fp16" and credited time saved
    s = compute_summary(report([1000, 1100, 900, 1050, 950], [1002, 1090, 910, 1040, 960]))
    assert s["verdict"].startswith("no measurable difference") and "time_saved_s_per_audio_hour" not in s


def test_slower_beyond_the_spread_keeps_upstream():
    s = compute_summary(report([500, 505, 495, 502, 498], [1000, 1010, 990, 1005, 995]))
    assert s["verdict"].startswith("keep torch-eager fp32")


def test_too_few_repeats_or_quick_give_no_verdict_and_no_per_hour_figure():
    three = compute_summary(report([1000, 1010, 990], [500, 505, 495]))
    assert three["verdict"].startswith("no verdict: 3 timed calls") and "at least 5" in three["verdict"]
    quick = compute_summary(report([1000, 1010, 990, 1005, 995], [500, 505, 495, 502, 498], quick=True))
    assert quick["verdict"].startswith("no verdict: --quick")
    assert "time_saved_s_per_audio_hour" not in three and "time_saved_s_per_audio_hour" not in quick


def test_compare_needs_ranges_apart():
    base = Spread(p5=90, p50=100, p95=110, n=20)
    assert compare(base, Spread(50, 60, 89, 20)) == "faster"
    assert compare(base, Spread(80, 85, 95, 20)) == "same"
    assert compare(base, Spread(111, 120, 130, 20)) == "slower"


def test_anomalies_are_flagged():
    # the CPU figures: 4.7 s for 1 s of audio against 13.6 s for 10 s, and a first call faster than p50
    odd = runtime("torch-eager", "fp32", "upstream", [
        length("short", 1.0, [4700, 4650, 4750, 4720, 4680], first_ms=4000),
        length("chunk", 10.0, [13600, 13500, 13700, 13650, 13550])])
    found = anomalies(odd)
    assert any("first (warm-up) call took 4000.00 ms, less than the p50" in a for a in found)
    assert any("3.5x dearer for the shorter call" in a for a in found)
    # a launch-bound GPU short call costs more per second for a known reason: not flagged
    gpu = runtime("torch-fast", "fp16", "optimized", [length("short", 1.0, [2.0] * 5), length("chunk", 10.0, [5.0] * 5)])
    assert anomalies(gpu) == []
    noisy = runtime("onnxruntime", "fp16", "optimized", [length("chunk", 10.0, [100, 100, 100, 100, 300])])
    assert any("noisy" in a for a in anomalies(noisy))
