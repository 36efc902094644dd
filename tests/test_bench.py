"""Benchmark pieces: timing statistics, the suite's honesty about what runs here, and the report it feeds."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from gsv_trt.bench.environment import detect
from gsv_trt.bench.suite import (RuntimeEntry, SuiteResult, bench_mel, default_settings, frames_for, parse_lengths,
                                 run_entry, torch_fast_entries, upstream_entries)
from gsv_trt.bench.timing import batch_sizes, throughput, time_calls
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import load_vocoder, spec_for
from gsv_trt.quality.mel import default_clips

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_warmup_is_timed_apart_and_percentiles_cover_repeats_only():
    delays = iter([0.05] + [0.01] * 5)
    timing = time_calls(lambda: time.sleep(next(delays)), repeats=5, warmup=1, cuda=False)
    assert timing.method == "perf_counter" and len(timing.warmup_ms) == 1 and len(timing.samples_ms) == 5
    assert timing.warmup_ms[0] >= 50
    assert 10 <= timing.p50 < 40 and timing.p50 <= timing.p95
    with pytest.raises(ValueError):
        time_calls(lambda: None, repeats=0, warmup=0, cuda=False)


@pytest.mark.gpu
@gpu
def test_cuda_event_timing_measures_gpu_work():
    a = torch.randn(4096, 4096, device="cuda")
    timing = time_calls(lambda: a @ a, repeats=5, warmup=2, cuda=True)
    assert timing.method == "cuda-events" and timing.p50 > 0


def test_batch_sizes_and_throughput():
    assert batch_sizes(1) == [1] and batch_sizes(8) == [1, 2, 4, 8] and batch_sizes(6) == [1, 2, 4, 6]
    t = time_calls(lambda: time.sleep(0.02), repeats=3, warmup=0, cuda=False)
    tp = throughput(4, t, audio_seconds=10.0)
    assert tp.requests_per_s == pytest.approx(4 / (t.p50 / 1e3))
    assert tp.audio_s_per_s == pytest.approx(10 * tp.requests_per_s)


def test_lengths():
    assert parse_lengths("short,long") == {"short": 1.0, "long": 60.0}
    assert parse_lengths("0.5,2s") == {"0.5s": 0.5, "2s": 2.0}
    with pytest.raises(GsvTrtError):
        parse_lengths("forever")
    # "chunk" is upstream's own chunk (TTS.init_vocoder T_chunk), like docs' measured baselines
    assert frames_for("chunk", 10.0, spec_for("v3")) == 934 and frames_for("chunk", 10.0, spec_for("v4")) == 1000
    assert frames_for("short", 1.0, spec_for("v4")) == 100


def test_cli_knows_every_runtime_of_the_suite():
    from gsv_trt.bench.suite import RUNTIME_NAMES
    from gsv_trt.commands._bench_options import RUNTIMES

    assert RUNTIMES == RUNTIME_NAMES


def test_default_settings_keep_cpu_runs_bounded():
    env = detect("cpu")
    cpu = default_settings(env)
    assert "long" not in cpu.lengths and cpu.max_batch == 1
    assert len(cpu.lengths) >= 3 and cpu.repeats >= 5  # a curve, not two points; enough calls to show a spread
    assert default_settings(env, quick=True).repeats == 2
    assert default_settings(env, repeats=7).repeats == 7


def test_batches_are_measured_at_one_length():
    from gsv_trt.bench.suite import GPU_LENGTHS, throughput_length

    assert throughput_length(GPU_LENGTHS) == "chunk"  # upstream's call size; the throughput plot's length
    assert throughput_length({"0.5s": 0.5, "2s": 2.0, "1s": 1.0}) == "2s"


def test_bench_mel_tiles_real_speech():
    speech = default_clips(spec_for("v4"), max_seconds=0.2)[0].mel  # 20 frames
    mel = bench_mel(speech, 50, 3)
    assert mel.shape == (3, 100, 50) and mel.dtype == np.float32
    np.testing.assert_array_equal(mel[2, :, 20:40], speech[0])


@pytest.fixture(scope="module")
def small():
    loaded = load_vocoder("v4")
    return loaded, default_clips(loaded.spec, max_seconds=0.2)[0].mel


def test_cpu_suite_says_what_it_cannot_run():
    env, loaded = detect("cpu"), load_vocoder("v4")
    fp32, fp16 = upstream_entries(loaded, env)
    assert fp32.load is not None and fp16.load is None and "is_half" in fp16.skip
    (fast,) = torch_fast_entries(loaded, ["fp16"], env)
    assert fast.load is None and "GPU" in fast.skip


def test_run_entry_measures_and_records_failures(small):
    loaded, speech = small
    env = detect("cpu")
    settings = default_settings(env, {"0.1s": 0.1}, repeats=2, warmup=1)
    entry = upstream_entries(loaded, env)[0]
    seen = []
    result = run_entry(entry, loaded, speech, settings, env, inspect=lambda e, rt: seen.append(rt.info))
    assert result.ran and result.info.device == "cpu" and result.peak_gpu_mib is None
    (length,) = result.lengths
    assert length.frames == 10 and length.audio_s == pytest.approx(0.1)
    assert length.x_real_time == pytest.approx(0.1 / (length.timing.p50 / 1e3))
    assert seen == [result.info]

    def broken():
        raise RuntimeError("engine exploded")

    failed = run_entry(RuntimeEntry("tensorrt", "fp16", "optimized", broken), loaded, speech, settings, env)
    assert not failed.ran and "engine exploded" in failed.error and failed.lengths == []
    skipped = run_entry(RuntimeEntry("tensorrt", "fp16", "optimized", None, skip="no GPU"), loaded, speech,
                        settings, env)
    assert skipped.skipped == "no GPU" and skipped.lengths == []


def test_report_from_a_cpu_suite_never_shows_unmeasured_numbers(small, tmp_path):
    from gsv_trt.bench.record import header
    from gsv_trt.report.writer import write_report

    loaded, speech = small
    env = detect("cpu")
    settings = default_settings(env, {"0.05s": 0.05, "0.1s": 0.1}, repeats=2, warmup=1)
    entries = upstream_entries(loaded, env) + [RuntimeEntry("tensorrt", "fp16", "optimized", None,
                                                            skip="TensorRT-RTX does not run on this machine")]
    suite = SuiteResult(env, settings, loaded.provenance, [run_entry(e, loaded, speech, settings, env)
                                                           for e in entries])
    clips = default_clips(loaded.spec, max_seconds=0.2)
    report = header("bench", env, loaded, clips, "2026-01-01T00:00:00+00:00", 1.0) | {
        "quality": [], "bench": suite.to_dict()}
    directory = write_report(report, tmp_path)
    saved = json.loads((directory / "report.json").read_text())
    assert saved["summary"]["baseline"]["runtime"] == "torch-eager fp32"
    assert "best" not in saved["summary"]  # nothing optimised ran: no speed-up is claimed
    md = (directory / "report.md").read_text()
    assert "numbers are CPU numbers" in md and "RANDOM weights" in md
    trt_row = next(line for line in md.splitlines() if line.startswith("| tensorrt fp16"))
    assert "not measured: TensorRT-RTX does not run" in trt_row and "ms" not in trt_row
    assert (directory / "latency_vs_length.png").stat().st_size > 0


@pytest.mark.gpu
@gpu
def test_gpu_suite_times_device_tensors_and_reads_memory(small):
    loaded, speech = small
    env = detect("cuda")
    settings = default_settings(env, {"0.5s": 0.5}, repeats=3, warmup=2, max_batch=2)
    entries = upstream_entries(loaded, env) + torch_fast_entries(loaded, ["fp16"], env)
    results = [run_entry(e, loaded, speech, settings, env) for e in entries]
    for r in results:
        assert r.ran, r.error
        assert r.info.device == torch.cuda.get_device_name() and r.io == "device tensors in/out"
        assert r.lengths[0].timing.method == "cuda-events" and r.peak_gpu_mib > 0
        assert [t.batch for t in r.lengths[0].throughput] == [1, 2]


def test_runtime_names_take_short_aliases():
    from gsv_trt.commands._bench_options import runtimes_list

    assert runtimes_list("torch,trt") == ("torch-fast", "tensorrt")
    with pytest.raises(Exception, match="expected a comma list"):
        runtimes_list("tensorflow")
