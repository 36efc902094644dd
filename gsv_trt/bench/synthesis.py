"""``gsv-trt bench --stage synthesis``: the whole v3/v4 synthesis stage, upstream's own functions against ours.

Rows are (version, seconds of audio, steps); the defaults are v3 and v4, 10 and 30 s, 8 and 32 steps, batch 1. Modes:

- ``upstream-sequential`` / ``upstream-batched``: upstream's ``TTS.using_vocoder_synthesis`` and
  ``using_vocoder_synthesis_batched_infer`` (from the GPT-SoVITS checkout; bench/upstream_code.py), eager, with the
  model and vocoder in fp16 as ``is_half`` on a GPU (fp32 on a CPU, where upstream forces ``is_half`` off);
- ``sequential`` / ``batched``: our ``SynthesisStage`` on the fastest runtime here (torch-fast on CUDA, else eager;
  fp16 on a GPU), with the per-part breakdown of one call (front end, CFM, vocoder, crossfade);
- ``stream``: ``SynthesisStage.stream``; its row adds the time to first audio (from the call until the first audio
  piece is on the device and synced, wall clock) beside the whole stream's time.

Same weights (ours, loaded into upstream's modules), same inputs for every mode: the shipped LibriTTS clip as the
reference (its spectrogram and mel prepared once, as upstream's ``prompt_cache`` holds them; the raw audio handed to
upstream already at the rate its prompt mel is computed at, so its torchaudio resampler is not needed), random
semantic tokens (25 Hz: 10 s of audio = 250 tokens) and phones (2 per token), one segment. Each timed call includes
the prompt's front end, as upstream's functions recompute it per call.
"""

from __future__ import annotations

import contextlib
import gc
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import GsvTrtError
from .environment import detect
from .stage_rows import against_baseline, failed, machine, measure, progress_line, skipped
from .upstream_code import (VOCODER_CONFIGS, UpstreamCode, load_upstream, tts_methods, tts_object, upstream_cfm,
                            upstream_synthesizer, upstream_vocoder)

MODES = ("upstream-sequential", "upstream-batched", "sequential", "batched", "stream")
DEFAULT_MODES = MODES
DEFAULT_ROWS = "v4:10:32,v4:10:8,v4:30:32,v4:30:8,v3:10:32,v3:10:8,v3:30:32,v3:30:8"
BASELINE_OF = {"sequential": "upstream-sequential", "batched": "upstream-batched", "stream": "upstream-sequential"}
TOKENS_PER_SECOND = 25
PHONES_PER_TOKEN = 2
SEMANTIC_CODES, PHONE_SYMBOLS = 1024, 732
PROMPT_RATE = {"v3": 24000, "v4": 32000}  # the rate upstream computes the prompt mel at
MIN_CALLS = 3  # a verdict from 3 calls of upstream (its 30 s rows take seconds a call); the spread still decides
COLUMNS = [("input", "input"), ("mode", "mode"), ("runtime", "runtime"), ("p50 ms", "p50_ms"),
           ("p5-p95 ms", "spread"), ("calls", "calls"), ("first call s", "first_call_s"),
           ("x vs upstream", "x_vs_upstream"), ("speed verdict", "verdict"), ("first audio ms", "first_audio_p50_ms"),
           ("front end ms", "front_end_ms"), ("cfm ms", "cfm_ms"), ("vocoder ms", "vocoder_ms"),
           ("crossfade ms", "crossfade_ms"), ("audio s", "audio_s")]


@dataclass(frozen=True)
class SynthesisRow:
    version: str
    seconds: float
    steps: int

    @property
    def label(self) -> str:
        return f"{self.version} {self.seconds:g} s {self.steps} steps"

    @property
    def tokens(self) -> int:
        return max(1, round(self.seconds * TOKENS_PER_SECOND))


def parse_rows(text: str) -> list[SynthesisRow]:
    """``version:seconds:steps``, comma separated, e.g. ``v4:10:32,v3:30:8``."""
    rows = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.split(":")
        try:
            row = SynthesisRow(parts[0], float(parts[1]), int(parts[2])) if len(parts) == 3 else None
        except ValueError:
            row = None
        if row is None or row.version not in VOCODER_CONFIGS or not (0 < row.seconds <= 120) or row.steps < 1:
            raise GsvTrtError(f"--rows {item!r}: expected version:seconds:steps, e.g. v4:10:32 (version v3 or v4, "
                              "0 < seconds <= 120, steps >= 1)")
        rows.append(row)
    if not rows:
        raise GsvTrtError("--rows: empty")
    return rows


def parse_modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise GsvTrtError(f"--modes {text!r}: expected a comma list of {', '.join(MODES)}")
    return modes


@dataclass
class Parts:
    """One version's weights: our front end, CFM and vocoder (loaded objects of models/*/loader.py)."""

    frontend: object  # LoadedFrontEnd
    cfm: object  # LoadedCFM
    vocoder: object  # LoadedVocoder


def load_parts(version: str, sovits_weights: str = "random", vocoder_weights: str = "random",
               lora_base: Path | None = None) -> Parts:
    from ..models.cfm.loader import load_cfm
    from ..models.sovits.frontend_loader import load_frontend
    from ..models.vocoder import load_vocoder

    return Parts(load_frontend(version, sovits_weights, None, lora_base),
                 load_cfm(version, sovits_weights, None, lora_base), load_vocoder(version, vocoder_weights))


@dataclass
class SynthesisBenchOptions:
    rows: list[SynthesisRow] = field(default_factory=lambda: parse_rows(DEFAULT_ROWS))
    modes: tuple[str, ...] = DEFAULT_MODES
    sovits_weights: str = "random"
    vocoder_weights: str = "random"
    lora_base: Path | None = None
    gpt_sovits_root: Path | None = None  # upstream's code
    device: str = "auto"
    repeats: int | None = None  # timed calls of our modes (default 10 GPU, 3 CPU)
    upstream_repeats: int | None = None  # timed calls of upstream's (default 3)
    reference: Path | None = None  # the reference clip (default: the shipped LibriTTS clip)
    parts: Callable[[str], Parts] | None = None  # tests: reduced-width parts


@dataclass
class Request:
    """One row's inputs: the reference (ours prepared, upstream's prompt_cache) and the tokens and phones."""

    reference: object  # PreparedReference
    prompt_cache: dict
    prompt_codes: torch.Tensor
    prompt_phones: torch.Tensor
    codes: torch.Tensor
    phones: torch.Tensor


def make_request(row: SynthesisRow, clip: Path, device: torch.device) -> Request:
    """The shipped clip as reference; random prompt tokens for its length, random target tokens and phones."""
    from ..models.sovits.reference_audio import prepare_reference, read_reference
    from ..models.sovits.sinc_resample import resample

    audio = read_reference(clip)
    reference = prepare_reference(audio, row.version)
    g = torch.Generator().manual_seed(int(row.seconds * 1000) + row.steps)
    prompt_tokens = int(audio.seconds * TOKENS_PER_SECOND)
    prompt_codes = torch.randint(0, SEMANTIC_CODES, (prompt_tokens,), generator=g)
    prompt_phones = torch.randint(0, PHONE_SYMBOLS, (prompt_tokens * PHONES_PER_TOKEN // 2,), generator=g)
    codes = torch.randint(0, SEMANTIC_CODES, (row.tokens,), generator=g)
    phones = torch.randint(0, PHONE_SYMBOLS, (row.tokens * PHONES_PER_TOKEN,), generator=g)
    mono = audio.samples.mean(0, keepdim=True) if audio.samples.shape[0] == 2 else audio.samples
    rate = PROMPT_RATE[row.version]
    cache = {"prompt_semantic": prompt_codes, "phones": prompt_phones.tolist(),
             "refer_spec": [(reference.refer_spec, None)],
             "raw_audio": resample(mono.float(), audio.sample_rate, rate), "raw_sr": rate}
    return Request(reference, cache, prompt_codes.to(device), prompt_phones.to(device), codes.to(device),
                   phones.to(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class OurSynthesis:
    """Our stage for one version (runners built once: torch-fast keeps its graphs across rows)."""

    def __init__(self, version: str, parts: Parts, device: torch.device):
        from ..synthesis.loader import default_precision
        from ..synthesis.runners import cfm_runner, frontend_runner, vocoder_runner
        from ..synthesis.stage import SynthesisStage

        precision = default_precision(device)
        cfm = cfm_runner(parts.cfm, "auto", precision, device)
        vocoder = vocoder_runner(parts.vocoder, "auto", precision, device)
        frontend, front = frontend_runner(parts.frontend.model, "auto", device, parts.frontend.provenance,
                                          precision)
        self.stage = SynthesisStage(version, frontend, cfm, vocoder, device)
        self.runtime = (f"front end {front.name} {front.precision}, cfm {cfm.info.name} {cfm.info.precision}, "
                        f"vocoder {vocoder.info.name} {vocoder.info.precision}")

    def call(self, path: str, x: Request, steps: int) -> Callable[[], list[torch.Tensor]]:
        from ..synthesis.stage import Segment

        stage, segments = self.stage, [Segment(x.codes, x.phones)]

        def run() -> list[torch.Tensor]:
            prompt = stage.prompt(x.reference, x.prompt_codes, x.prompt_phones)
            if path == "stream":
                return list(stage.stream(prompt, segments, steps))
            return stage.synthesize(prompt, segments, path, steps)
        return run

    def parts_ms(self, run: Callable[[], object]) -> dict:
        """The per-part breakdown of one more call (the clock syncs once, at the end)."""
        from ..synthesis.timing import PartClock

        clock = self.stage.measure()
        run()
        seconds = clock.seconds()
        self.stage.clock = PartClock(self.stage.device)  # timing off again for the next mode
        return {f"{name.replace(' ', '_')}_ms": round(s * 1e3, 2) for name, s in seconds.items()}

    def first_audio(self, x: Request, steps: int, repeats: int) -> dict:
        """Wall time from the call until the first audio piece is on the device and synced."""
        from ..report.verdict import Spread
        from ..synthesis.stage import Segment

        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            stream = self.stage.stream(self.stage.prompt(x.reference, x.prompt_codes, x.prompt_phones),
                                       [Segment(x.codes, x.phones)], steps)
            next(stream)
            _sync(self.stage.device)
            samples.append((time.perf_counter() - start) * 1e3)
            for _ in stream:  # finish the stream before the next call
                pass
            _sync(self.stage.device)
        s = Spread.of({"samples_ms": samples})
        return {"first_audio_p50_ms": round(s.p50, 2), "first_audio_p5_ms": round(s.p5, 2),
                "first_audio_p95_ms": round(s.p95, 2)}


class UpstreamSynthesis:
    """Upstream's synthesis methods on its own modules holding our weights, for one version."""

    def __init__(self, code: UpstreamCode, methods: type, version: str, parts: Parts, device: torch.device):
        import copy

        half = device.type == "cuda"  # upstream's is_half; forced off on a CPU
        self.dtype = torch.float16 if half else torch.float32
        cfm = upstream_cfm(code, copy.deepcopy(parts.cfm.model))
        self.vits = upstream_synthesizer(code, version, parts.frontend.model, cfm).to(device, self.dtype)
        self.vocoder = upstream_vocoder(code, parts.vocoder).to(device, self.dtype)
        self.methods, self.version, self.device = methods, version, device
        self.runtime = f"upstream eager {'fp16 (is_half)' if half else 'fp32 (is_half off on a CPU)'}"

    def call(self, path: str, x: Request, steps: int) -> Callable[[], list[torch.Tensor]]:
        tts = tts_object(self.methods, self.version, self.vits, self.vocoder, x.prompt_cache, self.device,
                         self.dtype)
        codes, phones = x.codes, x.phones

        def run() -> list[torch.Tensor]:
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # TTS.run's no_grad; SOLA's prints
                if path == "sequential":
                    return [tts.using_vocoder_synthesis(codes.view(1, 1, -1), phones.view(1, -1), 1.0, steps)]
                return tts.using_vocoder_synthesis_batched_infer([len(codes)], [codes], [phones], 1.0, steps)
        return run


def run_synthesis_bench(opts: SynthesisBenchOptions, say: Callable[[str], None] = print) -> dict:
    """Every (row, mode) in this process; returns the rows with the header and columns to print them."""
    from ..models.mel import shipped_speech

    env = detect(opts.device)
    device = torch.device(env.device)
    code, why = load_upstream(opts.gpt_sovits_root)
    methods = None
    if code is not None:
        try:
            methods = tts_methods(code)
        except GsvTrtError as e:
            code, why = None, str(e)
    say(f"device: {env.label}")
    say(f"upstream: {code.describe() if code else 'not run: ' + why}")
    repeats = opts.repeats or (10 if env.has_gpu else 3)
    upstream_repeats = opts.upstream_repeats or 3
    clip = opts.reference or shipped_speech()
    where = machine(env)
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # upstream's set_seed
    results: list[dict] = []
    try:
        for version in dict.fromkeys(r.version for r in opts.rows):
            parts = (opts.parts or (lambda v: load_parts(v, opts.sovits_weights, opts.vocoder_weights,
                                                         opts.lora_base)))(version)
            ours = OurSynthesis(version, parts, device)
            upstream = UpstreamSynthesis(code, methods, version, parts, device) if code is not None else None
            weights = "; ".join(dict.fromkeys([parts.frontend.provenance, parts.cfm.provenance,
                                               parts.vocoder.provenance]))
            random = parts.frontend.is_random or parts.cfm.is_random or parts.vocoder.is_random
            for row in (r for r in opts.rows if r.version == version):
                x = make_request(row, clip, device)
                for mode in opts.modes:
                    base = {"suite": "synthesis", "input": row.label, "version": version, "seconds": row.seconds,
                            "steps": row.steps, "tokens": row.tokens, "mode": mode, "weights": weights,
                            "random_weights": random} | where
                    results.append(_run_mode(mode, ours, upstream, why, row, x, base, device,
                                             upstream_repeats if mode.startswith("upstream") else repeats, say))
                    say(progress_line(results[-1]))
            del ours, upstream
            gc.collect()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    against_baseline(results, baseline_of=lambda r: BASELINE_OF.get(r["mode"]), min_calls=MIN_CALLS,
                     ratio_key="x_vs_upstream")
    header = [f"machine: {env.label}; torch {where['torch']}, Triton {where['triton'] or 'not installed'}"
              + (f", driver {where['driver']}" if where["driver"] else ""),
              f"weights: {'; '.join(sorted({r['weights'] for r in results}))}",
              f"upstream: {code.describe() if code else 'not run: ' + why}",
              f"inputs: reference {Path(clip).name}; one segment of random tokens ({TOKENS_PER_SECOND}/s of audio) "
              f"and phones ({PHONES_PER_TOKEN} per token); batch 1; TF32 off (upstream's set_seed)",
              f"timing: {'CUDA events' if env.has_gpu else 'perf_counter (CPU)'} per call, prompt front end "
              f"included; {repeats} timed calls for ours, {upstream_repeats} for upstream's, after one first call "
              "timed apart; first audio: wall clock until the first piece is synced",
              "x vs upstream (its p50 / ours): ours against upstream's same path (stream against upstream's sequential, which "
              f"cannot stream); speed verdict only where p5-p95 ranges do not overlap (at least {MIN_CALLS} calls)",
              "parts: front end / CFM / vocoder / crossfade of one more call (SynthesisStage.measure())"]
    if any(r["random_weights"] for r in results):
        header.append("RANDOM weights: speed is representative; the audio is not speech")
    return {"title": "gsv-trt bench --stage synthesis", "header": header, "rows": results, "columns": COLUMNS}


def _run_mode(mode: str, ours: OurSynthesis, upstream: UpstreamSynthesis | None, why: str | None, row: SynthesisRow, x: Request,
              base: dict, device: torch.device, repeats: int, say: Callable[[str], None]) -> dict:
    if mode.startswith("upstream-") and upstream is None:
        return skipped(base, why)
    say(f"{row.label}: {mode}")
    cuda = device.type == "cuda"
    try:
        if mode.startswith("upstream-"):
            run = upstream.call(mode.split("-", 1)[1], x, row.steps)
            audio, timing = measure(run, repeats, cuda)
            result = base | {"status": "ran", "runtime": upstream.runtime} | timing
        else:
            run = ours.call(mode, x, row.steps)
            audio, timing = measure(run, repeats, cuda)
            result = base | {"status": "ran", "runtime": ours.runtime} | timing | ours.parts_ms(run)
            if mode == "stream":
                result |= ours.first_audio(x, row.steps, repeats)
        rate = VOCODER_CONFIGS[row.version]["sr"]
        result["audio_s"] = round(sum(int(a.shape[-1]) for a in audio) / rate, 3)
        result["finite"] = bool(all(torch.isfinite(a).all() for a in audio))
        return result
    except Exception as e:  # a mode that fails is a result too
        return failed(base, e)
    finally:
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
