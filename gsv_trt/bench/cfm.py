"""``gsv-trt bench --stage cfm``: the CFM mel generator, upstream's code and ours, side by side in one process.

Rows are (version, batch, frames, steps); the defaults are issue 12's four. Modes:

- ``upstream-fp16`` / ``upstream-fp32``: upstream's own ``CFM.inference`` (from the GPT-SoVITS checkout), the whole
  module cast as ``is_half`` does / fp32 with TF32 off (upstream's ``set_seed``);
- ``upstream-compile-bf16``: ``torch.compile`` of upstream's DiT in bf16 (GPU only);
- ``eager-fp32`` / ``eager-fp16``: our CFM in PyTorch eager (fp16 as ``is_half``);
- ``torch-fast-fp16`` / ``torch-fast-bf16``: our graph-captured runtime (GPU only); ``torch-fast-<precision>`` may
  end in FastOptions variants (``-cudnn``, ``-cudnn-nlc``, ``-unfold``, ``-cudnnattn``, ``-efficient``, ``-noepi``,
  ``-nograph``), the choices docs/cfm-torch-fast.md measured.

Every mode runs the same weights (ours, loaded into upstream's modules for the upstream modes), the same
real-speech-derived conditioning (the shipped LibriTTS clip's mel: the prompt is its first frames, ``mu`` a fixed
projection of it; gsv_trt.export.cfm.check.speech_inputs) and the same noise (upstream's ``CFM.inference`` draws its
own with ``torch.randn``; during its calls that draw returns the row's noise). Quality: SNR and L1 of the output mel
(prompt frames excluded) against upstream's fp32 eager output; a mode passes when it is no worse on both than
upstream's fp16 in the same run. Without a checkout the upstream modes are skipped with the reason, the reference
is our eager fp32 (equal to upstream's to 1e-4, tests/test_cfm_model.py) and the bar our eager fp16 (upstream's
``is_half`` arithmetic), and the output says so.
"""

from __future__ import annotations

import contextlib
import copy
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ..errors import GsvTrtError
from ..models.cfm.config import CFM_SHAPES, FULL_DIT, DiTConfig
from .environment import Environment, detect
from .stage_rows import against_baseline, failed, machine, measure, progress_line, skipped
from .upstream_code import UpstreamCode, load_upstream, upstream_cfm

MODES = ("upstream-fp16", "upstream-fp32", "upstream-compile-bf16", "eager-fp32", "eager-fp16", "torch-fast-fp16",
         "torch-fast-bf16")
# torch-fast-<fp16|bf16|fp32> may end in these, each a FastOptions choice measured in docs/cfm-torch-fast.md
FAST_VARIANTS = {"triton": ("conv", "triton"), "cudnn": ("conv", "cudnn"), "cudnn-nlc": ("conv", "cudnn-nlc"),
                 "unfold": ("conv", "unfold"), "cudnnattn": ("attention", "cudnn"),
                 "efficient": ("attention", "efficient"), "noepi": ("gelu_epilogue", False),
                 "nograph": ("graphs", False), "contig": ("contiguous_qkv", True),
                 "res16": ("residual_half", True), "stepgraph": ("graph_scope", "step"),
                 "tritonattn": ("attention", "triton"), "flashattn": ("attention", "flash"),
                 "res32": ("residual_half", False)}
DEFAULT_MODES = ("upstream-fp16", "upstream-fp32", "upstream-compile-bf16", "eager-fp16", "torch-fast-fp16",
                 "torch-fast-bf16")
DEFAULT_ROWS = "v4:1:1000:32,v3:1:934:32,v4:1:1000:8,v4:4:1000:32"
GPU_ONLY = {"upstream-compile-bf16": "torch.compile of upstream's DiT is measured on a GPU only",
            "torch-fast-fp16": "torch-fast needs a CUDA GPU", "torch-fast-bf16": "torch-fast needs a CUDA GPU"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
COLUMNS = [("input", "input"), ("mode", "mode"), ("p50 ms", "p50_ms"), ("p5-p95 ms", "spread"),
           ("calls", "calls"), ("first call s", "first_call_s"), ("capture s", "capture_s"),
           ("x vs upstream fp16", "x_vs_upstream_fp16"), ("speed verdict", "verdict"), ("SNR dB", "snr_db"),
           ("L1", "l1"), ("gate", "gate")]


@dataclass(frozen=True)
class CfmRow:
    version: str
    batch: int
    frames: int
    steps: int

    @property
    def label(self) -> str:
        return f"{self.version} B{self.batch} T{self.frames} {self.steps} steps"

    @property
    def prompt_frames(self) -> int:
        """Upstream's T_ref, as in a real chunk; at most half the frames for short test rows."""
        return min(CFM_SHAPES[self.version][0], self.frames // 2)


def parse_rows(text: str) -> list[CfmRow]:
    """``version:batch:frames:steps``, comma separated, e.g. ``v4:1:1000:32,v3:1:934:32``."""
    rows = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.split(":")
        if len(parts) != 4 or parts[0] not in CFM_SHAPES or not all(p.isdigit() and int(p) > 0 for p in parts[1:]):
            raise GsvTrtError(f"--rows {item!r}: expected version:batch:frames:steps, e.g. v4:1:1000:32 "
                              "(version v3 or v4, positive whole numbers)")
        row = CfmRow(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))
        if row.frames < 4:
            raise GsvTrtError(f"--rows {item!r}: at least 4 frames")
        rows.append(row)
    if not rows:
        raise GsvTrtError("--rows: empty")
    return rows


def fast_options(mode: str):
    """``torch-fast-<precision>[-variant...]`` -> FastOptions, or None when ``mode`` is not one."""
    from ..runtime.cfm.torch_fast import FastOptions

    if not mode.startswith("torch-fast-"):
        return None
    precision, _, rest = mode[len("torch-fast-"):].partition("-")
    if precision not in DTYPES:
        return None
    choices, words = {}, rest.split("-") if rest else []
    while words:  # "cudnn-nlc" is one variant
        word = "-".join(words[:2]) if "-".join(words[:2]) in FAST_VARIANTS else words[0]
        if word not in FAST_VARIANTS:
            return None
        key, value = FAST_VARIANTS[word]
        choices[key] = value
        words = words[len(word.split("-")):]
    return FastOptions(precision=precision, **choices)


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES and fast_options(m) is None]
    if unknown or not modes:
        raise GsvTrtError(f"--modes {text!r}: expected a comma list of {', '.join(MODES)} (torch-fast-<precision> "
                          f"may end in -{', -'.join(FAST_VARIANTS)})")
    return modes


@dataclass
class CfmBenchOptions:
    rows: list[CfmRow] = field(default_factory=lambda: parse_rows(DEFAULT_ROWS))
    modes: tuple[str, ...] = DEFAULT_MODES
    sovits_weights: str = "random"
    lora_base: Path | None = None
    gpt_sovits_root: Path | None = None  # upstream's code
    device: str = "auto"
    repeats: int | None = None  # timed calls of torch-fast (default 20 GPU, 5 CPU)
    upstream_repeats: int | None = None  # timed calls of the eager modes, upstream's and ours (default 5)
    config: DiTConfig = FULL_DIT  # reduced widths for tests


@dataclass
class RowInputs:
    """One row's conditioning, prompt and noise (float32, on the device), and the reference mel."""

    mu: torch.Tensor
    prompt: torch.Tensor
    noise: torch.Tensor
    reference: torch.Tensor | None = None
    reference_is: str = ""


def row_inputs(row: CfmRow, cfg: DiTConfig, device: torch.device) -> RowInputs:
    """Real-speech-derived mu (speech_inputs: a fixed projection of the shipped clip's mel) and prompt (the clip's
    first frames on the CFM's scale, tiled if short), seeded noise."""
    from ..export.cfm.check import speech_inputs
    from ..models.mel import normalise_mel, speech_mel
    from ..models.vocoder.config import spec_for

    mu = torch.from_numpy(speech_inputs(row.version, cfg, row.batch, row.frames, None)["mu"])
    mel = normalise_mel(torch.from_numpy(speech_mel(spec_for(row.version).mel))).numpy()[0]
    prompt = torch.from_numpy(np.resize(mel, (100, row.prompt_frames)).astype(np.float32))[None]
    noise = torch.randn([row.batch, 100, row.frames], generator=torch.Generator().manual_seed(row.frames + row.steps))
    return RowInputs(mu.to(device), prompt.to(device), noise.to(device))


@contextlib.contextmanager
def fixed_noise(noise: torch.Tensor) -> Iterator[None]:
    """While upstream's ``CFM.inference`` runs, its ``torch.randn([B, 100, T], ...)`` returns ``noise`` (cast to the
    dtype asked for), so upstream's modes start from the same noise as ours; other draws are untouched."""
    real = torch.randn

    def randn(*args, **kwargs):
        size = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else tuple(args)
        if size == tuple(noise.shape):
            return noise.to(kwargs.get("device") or noise.device, kwargs.get("dtype") or noise.dtype).clone()
        return real(*args, **kwargs)

    torch.randn = randn
    try:
        yield
    finally:
        torch.randn = real


def mel_quality(mel: torch.Tensor, reference: torch.Tensor, prompt_frames: int) -> dict:
    """SNR (dB) and mean |Δ| of the generated frames (the prompt's are zero in both)."""
    from ..quality.metrics import snr_db

    a = mel[..., prompt_frames:].double().cpu().numpy()
    b = reference[..., prompt_frames:].double().cpu().numpy()
    return {"snr_db": round(float(snr_db(b, a)), 2), "l1": float(np.abs(a - b).mean()),
            "finite": bool(np.isfinite(a).all())}


class _Modes:
    """Makes the callable of each mode for a row; keeps torch-fast runtimes across rows (graphs per shape)."""

    def __init__(self, code: UpstreamCode | None, why_no_code: str | None, env: Environment):
        self.code, self.why_no_code, self.env = code, why_no_code, env
        self.device = torch.device(env.device)
        self.fast: dict[tuple[str, str], object] = {}
        self.models: dict[tuple, object] = {}  # eager models per (kind, weights, precision, compiled)
        self.upstream_fp32: dict[str, torch.nn.Module] = {}  # upstream's CFM holding each weights, on the CPU

    def why_not(self, mode: str) -> str | None:
        if not self.env.has_gpu and (mode in GPU_ONLY or mode.startswith("torch-fast")):
            return GPU_ONLY.get(mode, GPU_ONLY["torch-fast-fp16"])
        if mode.startswith("upstream-") and self.code is None:
            return self.why_no_code
        return None

    def upstream(self, loaded, precision: str, compiled: bool) -> Callable[[RowInputs, CfmRow], torch.Tensor]:
        key = ("upstream", loaded.weights_sha256, precision, compiled)
        if key not in self.models:  # one copy per weights and mode, kept across rows (compiled code too)
            if loaded.weights_sha256 not in self.upstream_fp32:
                self.upstream_fp32[loaded.weights_sha256] = upstream_cfm(self.code, loaded.model)
            model = copy.deepcopy(self.upstream_fp32[loaded.weights_sha256]).to(self.device, DTYPES[precision])
            if compiled:
                model.estimator = torch.compile(model.estimator, dynamic=False)
            self.models[key] = model
        model, dtype = self.models[key], DTYPES[precision]

        def call(x: RowInputs, row: CfmRow) -> torch.Tensor:
            x_lens = torch.tensor([row.frames], device=self.device)
            with fixed_noise(x.noise), torch.inference_mode():
                return model.inference(x.mu.to(dtype), x_lens, x.prompt.to(dtype), row.steps,
                                       inference_cfg_rate=0).float()
        return call

    def eager(self, loaded, precision: str) -> Callable[[RowInputs, CfmRow], torch.Tensor]:
        from ..synthesis.runners import cfm_runner

        key = ("eager", loaded.weights_sha256, precision, False)
        if key not in self.models:
            self.models[key] = cfm_runner(loaded, "eager", precision, self.device)
        runner = self.models[key]
        return lambda x, row: runner(x.mu, x.prompt, row.steps, x.noise)

    def torch_fast(self, loaded, mode: str):
        from ..runtime.cfm.torch_fast import TorchFastCFM

        key = (loaded.weights_sha256, mode)
        if key not in self.fast:
            self.fast.clear()
            torch.cuda.empty_cache()
            self.fast[key] = TorchFastCFM(loaded.model.estimator, fast_options(mode), self.device, loaded.provenance)
        return self.fast[key]

    def make(self, mode: str, loaded):
        if mode.startswith("torch-fast-"):
            fast = self.torch_fast(loaded, mode)
            return (lambda x, row: fast.inference(x.mu, x.prompt, row.steps, x.noise)), fast
        kind, precision = mode.rsplit("-", 1)
        if kind == "upstream":
            return self.upstream(loaded, precision, False), None
        if kind == "upstream-compile":
            return self.upstream(loaded, precision, True), None
        return self.eager(loaded, precision), None


def _reference(modes: _Modes, loaded, x: RowInputs, row: CfmRow) -> None:
    """Upstream's fp32 eager output on the row's inputs (TF32 off), else ours, which equals it."""
    if modes.code is not None:
        x.reference, x.reference_is = modes.upstream(loaded, "fp32", False)(x, row), "upstream eager fp32"
    else:
        x.reference = modes.eager(loaded, "fp32")(x, row)
        x.reference_is = f"our eager fp32 (upstream's code absent: {modes.why_no_code})"


def _gate(rows: list[dict]) -> None:
    """Per input, the bar is upstream fp16's SNR and L1 (our eager fp16, the same arithmetic, when upstream's code
    is absent); a mode passes when its output is finite and no worse on both."""
    ran = [r for r in rows if r["status"] == "ran"]
    for row in ran:
        same = {r["mode"]: r for r in ran if r["input"] == row["input"]}
        bar = same.get("upstream-fp16") or same.get("eager-fp16")
        if row["mode"] == "upstream-fp32" or (row["mode"] == "eager-fp32" and row["reference"].startswith("our")):
            row["gate"] = "reference"
        elif row is bar:
            row["gate"] = "bar"
        elif bar is None:
            row["gate"] = "no bar (upstream fp16 not measured)"
        else:
            ok = row["finite"] and row["snr_db"] >= bar["snr_db"] and row["l1"] <= bar["l1"]
            row["gate"] = "pass" if ok else "FAIL"
            row["bar"] = f"{bar['mode']}: SNR {bar['snr_db']} dB, L1 {bar['l1']:.3g}"


def run_cfm_bench(opts: CfmBenchOptions, say: Callable[[str], None] = print) -> dict:
    """Every (row, mode), in this process; returns {"header": [...], "rows": [...], "machine": {...}}."""
    from ..models.cfm.loader import load_cfm

    env = detect(opts.device)
    cuda = env.has_gpu
    code, why = load_upstream(opts.gpt_sovits_root)
    say(f"device: {env.label}")
    say(f"upstream: {code.describe() if code else 'not run: ' + why}")
    repeats = opts.repeats or (20 if cuda else 5)
    upstream_repeats = opts.upstream_repeats or 5
    modes = _Modes(code, why, env)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # upstream's set_seed
    where = machine(env)
    results: list[dict] = []
    loaded_by_version: dict[str, object] = {}
    try:
        for row in opts.rows:
            if row.version not in loaded_by_version:
                loaded_by_version[row.version] = load_cfm(row.version, opts.sovits_weights, None, opts.lora_base,
                                                          opts.config)
            loaded = loaded_by_version[row.version]
            x = row_inputs(row, opts.config, torch.device(env.device))
            _reference(modes, loaded, x, row)
            for mode in opts.modes:
                base = {"suite": "cfm", "input": row.label, "version": row.version, "batch": row.batch,
                        "frames": row.frames, "steps": row.steps, "prompt_frames": row.prompt_frames, "mode": mode,
                        "weights": loaded.provenance, "random_weights": loaded.is_random,
                        "reference": x.reference_is} | where
                results.append(_run_mode(modes, mode, loaded, row, x, base, cuda,
                                         repeats if mode.startswith("torch-fast") else upstream_repeats, say))
                say(progress_line(results[-1]))
            del x
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    _gate(results)
    against_baseline(results)
    weights = sorted({r["weights"] for r in results})
    header = [f"machine: {env.label}; torch {where['torch']}, Triton {where['triton'] or 'not installed'}"
              + (f", driver {where['driver']}" if where["driver"] else ""),
              f"weights: {'; '.join(weights)}", f"upstream: {code.describe() if code else 'not run: ' + why}",
              "inputs: mu and prompt from the shipped LibriTTS clip's mel (speech_inputs), the same noise for every "
              "mode; TF32 off (upstream's set_seed)",
              f"timing: {'CUDA events' if cuda else 'perf_counter (CPU)'}; {repeats} timed calls for torch-fast, "
              f"{upstream_repeats} for the eager modes (upstream's and ours), after one first call timed apart",
              "gate: SNR / L1 of the mel (prompt frames excluded) vs the reference; pass = no worse than upstream "
              "eager fp16 (is_half) in this run; x vs upstream fp16 = its p50 / this p50; speed verdict only where "
              "p5-p95 ranges do not overlap"]
    if any(r.get("random_weights") for r in results):
        header.append("RANDOM weights: speed is representative; quality is that of an untrained model")
    return {"title": "gsv-trt bench --stage cfm", "header": header, "rows": results, "columns": COLUMNS}


def _run_mode(modes: _Modes, mode: str, loaded, row: CfmRow, x: RowInputs, base: dict, cuda: bool, repeats: int,
              say: Callable[[str], None]) -> dict:
    why = modes.why_not(mode)
    if why:
        return skipped(base, why)
    say(f"{row.label}: {mode}")
    try:
        call, fast = modes.make(mode, loaded)
        mel, timing = measure(lambda: call(x, row), repeats, cuda)
        result = base | {"status": "ran"} | timing | mel_quality(mel, x.reference, row.prompt_frames)
        if fast is not None:
            key = (row.batch, row.frames, row.steps)  # graph scope "step" keys its graphs by (B, T)
            result["capture_s"] = round(fast.capture_seconds.get(key, fast.capture_seconds.get(key[:2], 0.0)), 3)
            result["runtime"] = fast.info.detail
        return result
    except Exception as e:  # a mode that fails is a result too; the others still run
        return failed(base, e)
    finally:
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
