"""``gsv-trt bench``: upstream's eager modes against given ONNX files and engines and the fused PyTorch runtime,
side by side in one process, each optimised runtime also scored against the fp32 reference."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import GsvTrtError
from ..models.vocoder import load_vocoder
from ..quality.candidate import check_matches, parse_candidate, runtime_note
from ..quality.evaluate import QualityBench
from ..quality.mel import default_clips
from ..runtime.base import Vocoder
from .environment import detect
from .record import header
from .suite import (RUNTIME_NAMES, RuntimeEntry, default_settings, onnxruntime_entry, run_suite, tensorrt_entry,
                    torch_fast_entries, upstream_entries)


@dataclass
class BenchOptions:
    version: str
    weights: str = "random"
    gpt_sovits_root: Path | None = None
    onnx: list[Path] = field(default_factory=list)
    engines: list[Path] = field(default_factory=list)
    torch_fast: tuple[str, ...] = ("fp16",)  # precisions of the fused PyTorch runtime
    runtimes: tuple[str, ...] = RUNTIME_NAMES
    audio: list[Path] = field(default_factory=list)
    clip_seconds: float | None = None
    device: str = "auto"
    bar: str = "auto"
    quality: bool = True
    lengths: dict[str, float] | None = None
    quick: bool = False
    repeats: int | None = None
    warmup: int | None = None
    max_batch: int | None = None
    force_onnxruntime: bool = False


def bench(opts: BenchOptions, say: Callable[[str], None] = print) -> dict:
    """Run the suite and return the report dict (``report.writer.write_report`` turns it into files)."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    env = detect(opts.device)
    say(f"device: {env.label}")
    loaded = load_vocoder(opts.version, opts.weights, opts.gpt_sovits_root)
    say(f"vocoder: {opts.version}, {loaded.provenance}")
    artifacts = [parse_candidate(str(p)) for p in [*opts.onnx, *opts.engines]]
    for spec in artifacts:
        check_matches(spec, opts.version, loaded.weights_sha256)
    entries: list[RuntimeEntry] = upstream_entries(loaded, env) if "torch-eager" in opts.runtimes else []
    for spec in artifacts:
        if spec.kind == "onnx":
            entries.append(onnxruntime_entry(spec.path, spec.precision, env, opts.force_onnxruntime))
        else:
            entries.append(tensorrt_entry(spec.path, spec.precision))
    if "torch-fast" in opts.runtimes:
        entries += torch_fast_entries(loaded, list(opts.torch_fast), env)
    if not entries:
        raise GsvTrtError("nothing to benchmark: --runtimes excludes everything given")

    clips = default_clips(loaded.spec, opts.audio, opts.clip_seconds if opts.clip_seconds else
                          (1.0 if opts.quick else None))
    quality = []
    inspect = None
    qb = None
    if opts.quality:
        say("quality reference: torch-eager fp32 (TF32 off) on " + "; ".join(c.describe() for c in clips))
        qb = QualityBench(loaded, clips, env.device, opts.bar)

        def inspect(entry: RuntimeEntry, runtime: Vocoder) -> None:
            if entry.role == "optimized":
                note = "; ".join(filter(None, ["scored during the benchmark", runtime_note(runtime)]))
                quality.append(qb.score(runtime, entry.key, entry.precision, note))

    settings = default_settings(env, opts.lengths, opts.quick, opts.repeats, opts.warmup, opts.max_batch)
    say("benchmark: " + ", ".join(f"{k} ({s:g} s)" for k, s in settings.lengths.items())
        + f"; {settings.repeats} repeats after {settings.warmup} warm-up, batch up to {settings.max_batch}")
    suite = run_suite(entries, loaded, clips[0].mel, settings, env, inspect)
    if qb is not None and env.has_gpu:
        from ..quality.evaluate import eager

        quality.insert(0, qb.score(eager(loaded, "fp16", env.device), "upstream is_half", "fp16",
                                   "upstream's own eager fp16 (what GPT-SoVITS ships with is_half)"))
    return header("bench", env, loaded, clips, started, time.perf_counter() - t0) | {
        "quality": [q.to_dict() for q in quality], "bench": suite.to_dict()}
