"""Which runtimes can run here, and one benchmark pass over all of them with the same inputs in the same process.

The originals are PyTorch eager fp32 (TF32 off) and fp16, exactly as upstream runs its vocoder (``is_half`` casts
the whole module; on a CPU upstream forces it off, so fp16 is skipped there). Against them: ONNX Runtime on the
exported graph, the TensorRT engine when this machine can run it (the runtime's own compatibility check decides,
never a guess), and the fused PyTorch runtime when it is installed and a GPU is present. A runtime that cannot run
appears in the results with the reason, and no numbers.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import GsvTrtError
from ..models.vocoder import LoadedVocoder
from ..runtime.base import RuntimeInfo, Vocoder
from .environment import Environment
from .timing import MemoryProbe, Throughput, Timing, batch_sizes, throughput, time_calls

# Audio lengths of the suite, in seconds of output: a fragment, one CFM chunk, a long concatenated call.
LENGTHS = {"short": 1.0, "chunk": 10.0, "long": 60.0}
# the defaults: enough lengths for latency against length to be a measured curve, not two points joined by a line
GPU_LENGTHS = {"short": 1.0, "2s": 2.0, "5s": 5.0, "chunk": 10.0, "20s": 20.0, "long": 60.0}
CPU_LENGTHS = {"short": 1.0, "3s": 3.0, "chunk": 10.0}
# "chunk" is exactly upstream's T_chunk (TTS.init_vocoder), as in docs' measured baselines: v3 9.96 s, v4 10 s.
UPSTREAM_CHUNK_FRAMES = {"v3": 934, "v4": 1000}
RUNTIME_NAMES = ("torch-eager", "onnxruntime", "tensorrt", "torch-fast")


@dataclass
class RuntimeEntry:
    """A runtime the suite knows about: how to load it, or why it cannot run here."""

    name: str  # one of RUNTIME_NAMES
    precision: str
    role: str  # "upstream" (the original, as GPT-SoVITS runs it) | "optimized"
    load: Callable[[], Vocoder] | None
    skip: str | None = None  # why it does not run on this machine
    artifact: Path | None = None  # the file it runs (ONNX / engine), for its size
    build_s: float | None = None  # how long producing the artifact took, when this run produced it
    torch_runtime: bool = False  # memory is then read from torch's allocator
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.name} {self.precision}"


def upstream_entries(loaded: LoadedVocoder, env: Environment) -> list[RuntimeEntry]:
    """Eager fp32 and fp16 as upstream runs them."""
    from ..quality.evaluate import eager

    entries = [RuntimeEntry("torch-eager", "fp32", "upstream", lambda: eager(loaded, "fp32", env.device),
                            torch_runtime=True, note="TF32 off, as upstream's TTS.set_seed")]
    fp16 = RuntimeEntry("torch-eager", "fp16", "upstream", lambda: eager(loaded, "fp16", env.device),
                        torch_runtime=True, note="whole module .half(), as upstream's is_half")
    if not env.has_gpu:
        fp16.load, fp16.skip = None, "upstream forces is_half off on a CPU, so eager fp16 is not how it runs here"
    return entries + [fp16]


def onnxruntime_entry(onnx_path: Path, precision: str, env: Environment, force: bool = False) -> RuntimeEntry:
    """ONNX Runtime on the exported graph. On a GPU machine whose onnxruntime has no CUDA provider, a CPU run
    beside GPU runtimes is no comparison: skipped unless ``force``."""
    from ..runtime.vocoder.onnx_runtime import OnnxRuntimeVocoder

    entry = RuntimeEntry("onnxruntime", precision, "optimized", lambda: OnnxRuntimeVocoder(onnx_path),
                         artifact=Path(onnx_path))
    if env.has_gpu and "CUDAExecutionProvider" not in env.onnxruntime_providers and not force:
        entry.load, entry.skip = None, ("this onnxruntime has no CUDA provider; a CPU run beside GPU runtimes "
                                        "is not a comparison (name it in --runtimes to run it anyway)")
    return entry


def tensorrt_entry(plan: Path, precision: str, build_s: float | None = None) -> RuntimeEntry:
    """The engine, if it can run here; otherwise an entry that says why not (and carries no numbers)."""
    from ..quality.candidate import engine_cannot_run
    from ..runtime.vocoder.trt_engine import TensorRTVocoder

    reason = engine_cannot_run(plan)
    return RuntimeEntry("tensorrt", precision, "optimized", None if reason else (lambda: TensorRTVocoder(plan)),
                        skip=reason, artifact=Path(plan), build_s=build_s)


def torch_fast_entries(loaded: LoadedVocoder, precisions: list[str], env: Environment) -> list[RuntimeEntry]:
    """The fused, graph-captured PyTorch runtime (runtime/torch_fast.py): CUDA GPU and Triton only."""
    from ..runtime.kernels.fused_activation import needs_gpu_reason

    reason = "needs a CUDA GPU (this run is on the CPU)" if not env.has_gpu else needs_gpu_reason()
    entries = []
    for p in precisions:
        def load(p: str = p) -> Vocoder:
            from ..runtime.vocoder.torch_fast import TorchFastVocoder

            return TorchFastVocoder(loaded, p, env.device)

        entries.append(RuntimeEntry("torch-fast", p, "optimized", None if reason else load, skip=reason,
                                    torch_runtime=True, note="CUDA graphs captured per shape bucket at warm-up"))
    return entries


@dataclass
class LengthResult:
    """One audio length: latency at batch 1 and throughput at each batch size tried."""

    name: str
    frames: int
    audio_s: float
    timing: Timing
    throughput: list[Throughput] = field(default_factory=list)
    batch_limit: str = ""  # why larger batches were not measured

    @property
    def x_real_time(self) -> float:
        return self.audio_s / (self.timing.p50 / 1e3)

    def to_dict(self) -> dict:
        return {"name": self.name, "frames": self.frames, "audio_s": self.audio_s, "x_real_time": self.x_real_time,
                "timing": self.timing.to_dict(), "throughput": [t.to_dict() for t in self.throughput],
                "batch_limit": self.batch_limit}


@dataclass
class RuntimeResult:
    name: str
    precision: str
    role: str
    info: RuntimeInfo | None = None
    skipped: str | None = None
    error: str | None = None
    io: str = ""  # what a timed call includes
    load_s: float | None = None
    build_s: float | None = None
    artifact: str | None = None
    artifact_bytes: int | None = None
    peak_gpu_mib: float | None = None
    memory_method: str = ""
    note: str = ""
    lengths: list[LengthResult] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.name} {self.precision}"

    @property
    def ran(self) -> bool:
        return self.skipped is None and self.error is None and bool(self.lengths)

    def length(self, name: str) -> LengthResult | None:
        return next((r for r in self.lengths if r.name == name), None)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("lengths", "info")}
        return d | {"key": self.key, "info": asdict(self.info) if self.info else None,
                    "lengths": [r.to_dict() for r in self.lengths]}


@dataclass(frozen=True)
class SuiteSettings:
    lengths: dict[str, float]  # name -> seconds of output audio
    repeats: int
    warmup: int
    max_batch: int
    batch_repeats: int  # repeats for the batch > 1 throughput points
    quick: bool = False  # a smoke run: no verdict is drawn from it


def default_settings(env: Environment, lengths: dict[str, float] | None = None, quick: bool = False,
                     repeats: int | None = None, warmup: int | None = None,
                     max_batch: int | None = None) -> SuiteSettings:
    """GPU: six lengths from 1 to 60 s, 20 repeats, batches to 8. CPU: 1, 3 and 10 s (a 60 s call of the
    full-size v3 takes minutes there; ask for "long" to get it), 5 repeats (the fewest that show a spread), batch 1.
    ``quick``:
    one 0.25 s length, 2 repeats (tests, smoke runs; no verdict). Explicit values override."""
    if quick:
        base = SuiteSettings({"0.25s": 0.25}, 2, 1, 1, 1, quick=True)
    elif env.has_gpu:
        base = SuiteSettings(dict(GPU_LENGTHS), 20, 3, 8, 5)
    else:
        base = SuiteSettings(dict(CPU_LENGTHS), 5, 1, 1, 1)
    for name, value in (("repeats", repeats), ("warmup", warmup), ("max_batch", max_batch)):
        if value is not None and value < (0 if name == "warmup" else 1):
            raise GsvTrtError(f"--{name.replace('_', '-')} {value}: too small")
    return SuiteSettings(lengths or base.lengths, repeats or base.repeats,
                         base.warmup if warmup is None else warmup, max_batch or base.max_batch,
                         max(1, (repeats or base.repeats) // 4) if repeats else base.batch_repeats, quick)


def throughput_length(lengths: dict[str, float]) -> str:
    """The one length measured at every batch size: upstream's chunk if asked for, else the longest. Batches at
    every length would multiply torch-fast's graph captures (one per batch x length bucket, ~20 s each)."""
    return "chunk" if "chunk" in lengths else max(lengths, key=lengths.__getitem__)


def parse_lengths(text: str) -> dict[str, float]:
    """``short,chunk`` or ``short,long`` or seconds ``0.5,2`` (named "0.5s", "2s")."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if item in LENGTHS:
            out[item] = LENGTHS[item]
            continue
        try:
            seconds = float(item.rstrip("s"))
        except ValueError:
            raise GsvTrtError(f"--lengths {item!r}: expected short, chunk, long or a number of seconds") from None
        if seconds <= 0:
            raise GsvTrtError(f"--lengths {item!r}: must be positive")
        out[f"{seconds:g}s"] = seconds
    if not out:
        raise GsvTrtError("--lengths: empty")
    return out


def frames_for(name: str, seconds: float, spec) -> int:
    """Mel frames giving ``seconds`` of output; "chunk" is upstream's own chunk length."""
    if name == "chunk" and seconds == LENGTHS["chunk"]:
        return UPSTREAM_CHUNK_FRAMES[spec.version]
    return max(1, round(seconds * spec.sample_rate / spec.hop))


def bench_mel(speech: np.ndarray, frames: int, batch: int) -> np.ndarray:
    """Real-speech mel values tiled to ``frames`` and stacked ``batch`` times (speed does not depend on values,
    but realistic ranges keep every runtime on its normal path)."""
    reps = -(-frames // speech.shape[-1])
    one = np.tile(speech[0], (1, reps))[:, :frames]
    return np.repeat(one[None], batch, axis=0).astype(np.float32, copy=False)


def _timed_call(runtime: Vocoder, mel: np.ndarray, cuda: bool) -> tuple[Callable[[], object], str]:
    """What one timed call does: device tensors in and out for runtimes that offer ``forward_tensor`` on a GPU (no
    host copies, as inside GPT-SoVITS), else numpy in and out (host copies included)."""
    if cuda and hasattr(runtime, "forward_tensor"):
        import torch

        x = torch.from_numpy(mel).cuda()
        return (lambda: runtime.forward_tensor(x)), "device tensors in/out"
    return (lambda: runtime(mel)), "numpy in/out (host copies included)" if cuda else "numpy in/out"


Inspect = Callable[[RuntimeEntry, Vocoder], None]


def run_entry(entry: RuntimeEntry, loaded: LoadedVocoder, speech: np.ndarray, settings: SuiteSettings,
              env: Environment, progress: Callable[[str], None] = lambda s: None,
              inspect: Inspect | None = None) -> RuntimeResult:
    """Load one runtime and measure it at every length and batch size; failures are recorded, not raised.
    ``inspect`` (e.g. a quality score) sees the loaded runtime after the measurements, outside the memory probe."""
    result = RuntimeResult(entry.name, entry.precision, entry.role, skipped=entry.skip, build_s=entry.build_s,
                           note=entry.note)
    if entry.artifact is not None and entry.artifact.exists():
        result.artifact, result.artifact_bytes = str(entry.artifact), entry.artifact.stat().st_size
    if entry.load is None:
        return result
    cuda = env.has_gpu
    probe = MemoryProbe(cuda, entry.torch_runtime)
    probe.start()
    runtime = None
    try:
        t0 = time.perf_counter()
        runtime = entry.load()
        result.load_s = time.perf_counter() - t0
        result.info = runtime.info
        hop, rate = loaded.spec.hop, loaded.spec.sample_rate
        for name, seconds in settings.lengths.items():
            frames = frames_for(name, seconds, loaded.spec)
            progress(f"{entry.key}: {name} ({frames} frames)")
            call, result.io = _timed_call(runtime, bench_mel(speech, frames, 1), cuda)
            timing = time_calls(call, settings.repeats, settings.warmup, cuda)
            length = LengthResult(name, frames, frames * hop / rate, timing)
            length.throughput.append(throughput(1, timing, length.audio_s))
            batches = batch_sizes(settings.max_batch)[1:] if name == throughput_length(settings.lengths) else []
            for batch in batches:
                try:
                    call, _ = _timed_call(runtime, bench_mel(speech, frames, batch), cuda)
                    t = time_calls(call, settings.batch_repeats, 1, cuda)
                except Exception as e:  # e.g. outside the engine's profile, out of memory: stop growing the batch
                    length.batch_limit = f"batch {batch}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    break
                length.throughput.append(throughput(batch, t, length.audio_s))
            result.lengths.append(length)
    except Exception as e:  # a runtime that fails is reported with its reason; the others still run
        result.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        result.peak_gpu_mib, result.memory_method = probe.stop()
    if inspect is not None and result.error is None:
        inspect(entry, runtime)
    del runtime
    gc.collect()
    return result


@dataclass
class SuiteResult:
    environment: Environment
    settings: SuiteSettings
    provenance: str  # which weights
    runtimes: list[RuntimeResult]

    def to_dict(self) -> dict:
        return {"environment": self.environment.to_dict(), "settings": asdict(self.settings),
                "weights": self.provenance, "runtimes": [r.to_dict() for r in self.runtimes]}


def run_suite(entries: list[RuntimeEntry], loaded: LoadedVocoder, speech: np.ndarray, settings: SuiteSettings,
              env: Environment, inspect: Inspect | None = None) -> SuiteResult:
    """Every entry, one after the other, in this process, on the same inputs (progress bar on a terminal)."""
    from tqdm import tqdm

    results = []
    with tqdm(total=len(entries), desc="benchmark", unit="runtime", disable=None, leave=False) as bar:
        for entry in entries:
            results.append(run_entry(entry, loaded, speech, settings, env, bar.set_postfix_str, inspect))
            bar.update()
    return SuiteResult(env, settings, loaded.provenance, results)
