"""``gsv-trt optimize``: export -> engine -> quality gate with fallback -> benchmark, and what to report about it.

For each step of the fallback chain (requested precision with fp32 islands, then each safer precision) it exports
the ONNX (reused when an identical one is there), builds the engine (cached by its sidecar's key) and gates the
candidate on real speech against the fp32 eager reference. The candidate is the engine when this machine can run
it; otherwise ONNX Runtime on the same ONNX the engine was built from, and the result says so. The first step that
passes is chosen. Then every runtime that can run here is benchmarked side by side with upstream's eager modes, and
each optimised runtime that ran is also scored, so the summary only credits speed that kept quality.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import __version__
from ..errors import GsvTrtError
from ..models.vocoder import LoadedVocoder, load_vocoder
from ..quality.evaluate import CandidateScore, QualityBench
from ..quality.candidate import engine_cannot_run, runtime_note
from ..quality.gate import Step, fallback_chain
from ..quality.mel import Clip, default_clips
from ..runtime.base import Vocoder
from .environment import Environment, detect
from .record import header
from .suite import (RUNTIME_NAMES, RuntimeEntry, SuiteResult, default_settings, onnxruntime_entry, run_suite,
                    tensorrt_entry, torch_fast_entries, upstream_entries)


@dataclass
class OptimizeOptions:
    version: str
    precision: str = "fp16"
    weights: str = "random"
    gpt_sovits_root: Path | None = None
    audio: list[Path] = field(default_factory=list)  # the user's wavs; empty = the bundled clip
    clip_seconds: float | None = None  # crop quality clips (CPU runs)
    work_dir: Path = Path("engines")  # where ONNX and engines go (cached between runs)
    device: str = "auto"
    bar: str = "auto"  # auto | shipped | live
    trt: str = "auto"  # auto | tensorrt | rtx | none
    islands: bool = True
    lengths: dict[str, float] | None = None
    quick: bool = False
    repeats: int | None = None
    warmup: int | None = None
    max_batch: int | None = None
    runtimes: tuple[str, ...] = RUNTIME_NAMES
    force_onnxruntime: bool = False  # run ONNX Runtime on CPU even beside GPU runtimes


@dataclass
class Attempt:
    """One step of the fallback chain and everything that happened in it."""

    step: Step
    onnx: Path | None = None
    onnx_reused: bool = False
    export_s: float | None = None
    engine: Path | None = None
    engine_built: bool = False
    build_s: float | None = None
    engine_skip: str | None = None  # why no engine was built
    engine_runs_here: str | None = None  # why the built engine cannot run here; None = it runs
    score: CandidateScore | None = None

    @property
    def passed(self) -> bool:
        return self.score is not None and self.score.passed

    def to_dict(self) -> dict:
        return {"step": self.step.label, "precision": self.step.precision, "fp32_islands": self.step.fp32_islands,
                "onnx": str(self.onnx) if self.onnx else None, "onnx_reused": self.onnx_reused,
                "onnx_bytes": self.onnx.stat().st_size if self.onnx and self.onnx.exists() else None,
                "export_s": self.export_s, "engine": str(self.engine) if self.engine else None,
                "engine_built": self.engine_built, "build_s": self.build_s,
                "engine_bytes": self.engine.stat().st_size if self.engine and self.engine.exists() else None,
                "engine_skip": self.engine_skip, "engine_cannot_run": self.engine_runs_here,
                "passed": self.passed, "score": self.score.to_dict() if self.score else None}


def artifact_stem(loaded: LoadedVocoder, step: Step) -> str:
    """The name ``gsv-trt engine`` gives the same graph and engine, so both share one cache in ``engines/``."""
    from ..export.artifacts import artifact_stem as stem, weights_key

    return stem(loaded.spec.version, "vocoder", step.precision, weights_key(loaded.weights_sha256, loaded.is_random))


def export_step(loaded: LoadedVocoder, step: Step, work_dir: Path, attempt: Attempt) -> None:
    """The ONNX for ``step``: reused if the one on disk was exported from the same weights with the same settings."""
    from ..export.vocoder.exporter import export_onnx
    from ..export.metadata import read_metadata
    from ..export.vocoder.precision import islands_for

    path = work_dir / f"{artifact_stem(loaded, step)}.onnx"
    want = {"vocoder": loaded.spec.version, "precision": step.precision, "weights_sha256": loaded.weights_sha256,
            "gsv_trt_version": __version__,
            "fp32_islands": ",".join(islands_for(loaded.spec.version, step.precision, step.fp32_islands))}
    if path.exists():
        try:
            meta = read_metadata(path)
        except GsvTrtError:
            meta = {}
        if all(meta.get(k) == v for k, v in want.items()):
            attempt.onnx, attempt.onnx_reused = path, True
            return
    t0 = time.perf_counter()
    attempt.onnx = export_onnx(loaded, path, step.precision, step.fp32_islands)
    attempt.export_s = time.perf_counter() - t0


def build_step(attempt: Attempt, trt: str, env: Environment, work_dir: Path) -> None:
    """The engine for the attempt's ONNX (cached by the builder), or the reason there is none."""
    if trt == "none":
        attempt.engine_skip = "engine build not requested (--trt none)"
        return
    from ..build.builder import BuildOptions, ensure_engine
    from ..build.progress import BuildConsole
    from ..runtime import cuda

    gpu = cuda.gpu_info() if env.has_gpu else None
    plan = work_dir / f"{attempt.onnx.stem}.plan"
    try:
        options = BuildOptions(trt=trt, timing_cache=work_dir / "tensorrt.timing.cache")
        sidecar, built = ensure_engine(attempt.onnx, plan, options, gpu, BuildConsole())
    except GsvTrtError as e:
        attempt.engine_skip = str(e)
        return
    attempt.engine, attempt.engine_built = plan, built
    attempt.build_s = sidecar["build"]["seconds"] if built else None  # a cached engine was not built in this run
    attempt.engine_runs_here = engine_cannot_run(plan)


def candidate_for(attempt: Attempt) -> tuple[Vocoder | None, str, str | None]:
    """What to gate: (runtime, note, error). The engine if it runs here, else ONNX Runtime on the same ONNX."""
    if attempt.engine is not None and attempt.engine_runs_here is None:
        from ..runtime.vocoder.trt_engine import TensorRTVocoder

        note, make = "the TensorRT engine itself", lambda: TensorRTVocoder(attempt.engine)
    else:
        from ..runtime.vocoder.onnx_runtime import OnnxRuntimeVocoder

        why = attempt.engine_runs_here or attempt.engine_skip or "no engine"
        note = (f"no engine runs here ({why}); quality measured with ONNX Runtime on the same {attempt.step.label} "
                "ONNX the engine is built from")
        make = lambda: OnnxRuntimeVocoder(attempt.onnx)  # noqa: E731
    try:
        runtime = make()
    except Exception as e:  # a runtime that cannot load this graph or engine fails the step, with its reason
        return None, note, f"cannot load: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    caveat = runtime_note(runtime)
    if caveat:
        note += f"; {caveat}"
    return runtime, note, None


@dataclass
class OptimizeResult:
    options: OptimizeOptions
    environment: Environment
    loaded: LoadedVocoder
    clips: list[Clip]
    bar: str
    chain: list[Step]  # the whole fallback order; ``attempts`` stops at the first step that passes
    attempts: list[Attempt]
    chosen: Attempt | None
    quality: list[CandidateScore]  # every scored runtime (is_half, candidates, benchmarked runtimes)
    suite: SuiteResult
    started: str
    seconds: float

    @property
    def why(self) -> str:
        """Each failed step with its reasons, then the chosen one (every attempt is scored, even when it could
        not run)."""
        failed = "".join(f"{a.step.label} failed ({'; '.join(a.score.reasons)}); " for a in self.attempts
                         if a is not self.chosen)
        if self.chosen is None:
            return f"{failed}no precision passed the quality gate: keep upstream's eager vocoder"
        return f"{failed}{self.chosen.step.label} passed every check on every clip"

    def to_dict(self) -> dict:
        return header("optimize", self.environment, self.loaded, self.clips, self.started, self.seconds) | {
            "optimize": {"requested": self.options.precision, "bar": self.bar,
                         "chain": [s.label for s in self.chain],
                         "attempts": [a.to_dict() for a in self.attempts],
                         "chosen": self.chosen.step.label if self.chosen else None, "why": self.why},
            "quality": [q.to_dict() for q in self.quality],
            "bench": self.suite.to_dict(),
        }


Prepare = Callable[[Attempt], tuple[Vocoder | None, str, str | None]]


def gate_with_fallback(chain: list[Step], qb: QualityBench, prepare: Prepare,
                       say: Callable[[str], None] = print) -> tuple[list[Attempt], Attempt | None]:
    """Gate each step's candidate in order (``prepare`` makes it: runtime, note, error) until one passes."""
    attempts: list[Attempt] = []
    for step in chain:
        attempt = Attempt(step)
        attempts.append(attempt)
        candidate, note, error = prepare(attempt)
        say(f"[{step.label}] quality gate: {qb.thresholds(step.precision, 0).describe()}")
        attempt.score = qb.score(candidate, step.label, step.precision, note, error)
        del candidate
        say(f"[{step.label}] {'PASS' if attempt.passed else 'FAIL'}: {'; '.join(attempt.score.reasons)}")
        if attempt.passed:
            return attempts, attempt
    return attempts, None


def optimize(opts: OptimizeOptions, say: Callable[[str], None] = print) -> OptimizeResult:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    env = detect(opts.device)
    say(f"device: {env.label}")
    loaded = load_vocoder(opts.version, opts.weights, opts.gpt_sovits_root)
    say(f"vocoder: {opts.version}, {loaded.provenance}")
    seconds = opts.clip_seconds if opts.clip_seconds is not None else (1.0 if opts.quick else None)
    clips = default_clips(loaded.spec, opts.audio, seconds)
    say("quality clips: " + "; ".join(c.describe() for c in clips))
    say("reference: torch-eager fp32 (TF32 off) on " + env.device_name)
    qb = QualityBench(loaded, clips, env.device, opts.bar)
    opts.work_dir.mkdir(parents=True, exist_ok=True)

    def prepare(attempt: Attempt) -> tuple[Vocoder | None, str, str | None]:
        label = attempt.step.label
        say(f"[{label}] exporting ONNX")
        try:
            export_step(loaded, attempt.step, opts.work_dir, attempt)
        except GsvTrtError as e:
            return None, "", f"export failed: {e}"
        say(f"[{label}] {'reusing' if attempt.onnx_reused else 'exported'} {attempt.onnx}")
        if "tensorrt" not in opts.runtimes:
            attempt.engine_skip = "tensorrt not in --runtimes"
        else:
            build_step(attempt, opts.trt, env, opts.work_dir)
            if attempt.engine is None:
                say(f"[{label}] no engine: {attempt.engine_skip}")
            else:
                runs = attempt.engine_runs_here
                say(f"[{label}] engine {attempt.engine} ({'built' if attempt.engine_built else 'cached'}); "
                    + ("runs here" if runs is None else f"cannot run here: {runs}"))
        return candidate_for(attempt)

    chain = fallback_chain(opts.precision, opts.islands)
    attempts, chosen = gate_with_fallback(chain, qb, prepare, say)

    quality = [a.score for a in attempts if a.score is not None]
    if env.has_gpu:
        from ..quality.evaluate import eager

        quality.insert(0, qb.score(eager(loaded, "fp16", env.device), "upstream is_half", "fp16",
                                   "upstream's own eager fp16 (what GPT-SoVITS ships with is_half)"))

    settings = default_settings(env, opts.lengths, opts.quick, opts.repeats, opts.warmup, opts.max_batch)
    entries = bench_entries(loaded, env, opts, chosen)
    scored = {(q.info.name, q.info.precision) for q in quality if q.info is not None}

    def inspect(entry: RuntimeEntry, runtime: Vocoder) -> None:
        """Score each optimised runtime the benchmark loaded, unless its quality is already known."""
        if entry.role == "optimized" and (runtime.info.name, runtime.info.precision) not in scored:
            quality.append(qb.score(runtime, entry.key, entry.precision, "scored during the benchmark"))

    say("benchmark: " + ", ".join(f"{k} ({s:g} s)" for k, s in settings.lengths.items())
        + f"; {settings.repeats} repeats after {settings.warmup} warm-up, batch up to {settings.max_batch}")
    suite = run_suite(entries, loaded, clips[0].mel, settings, env, inspect)
    return OptimizeResult(opts, env, loaded, clips, qb.bar, chain, attempts, chosen, quality, suite, started,
                          time.perf_counter() - t_start)


def bench_entries(loaded: LoadedVocoder, env: Environment, opts: OptimizeOptions,
                  chosen: Attempt | None) -> list[RuntimeEntry]:
    """Upstream's eager modes, then the chosen step's ONNX and engine, then the fused PyTorch runtime."""
    entries = upstream_entries(loaded, env) if "torch-eager" in opts.runtimes else []
    if chosen is not None:
        precision = chosen.step.precision
        if "onnxruntime" in opts.runtimes:
            entries.append(onnxruntime_entry(chosen.onnx, precision, env, opts.force_onnxruntime))
        if chosen.engine is not None:
            entries.append(tensorrt_entry(chosen.engine, precision, chosen.build_s))
        elif "tensorrt" in opts.runtimes:
            entries.append(RuntimeEntry("tensorrt", precision, "optimized", None, skip=chosen.engine_skip))
    if "torch-fast" in opts.runtimes:
        precision = chosen.step.precision if chosen else opts.precision
        entries += torch_fast_entries(loaded, [precision], env)
    return entries
