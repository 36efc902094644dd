"""``SynthesisStage``: SoVITS features -> CFM -> vocoder, upstream's two v3/v4 paths with the same numbers.

- ``sequential`` is ``TTS.using_vocoder_synthesis`` per segment: the segment's features go through the CFM in
  chunks of ``T_chunk - T_min`` frames, each prompted by the previous chunk's last ``T_min`` frames (the first by
  the reference), then the vocoder runs once over the segment's mel.
- ``batched`` is ``TTS.using_vocoder_synthesis_batched_infer``: every segment's features back to back, cut into
  overlapping chunks that all take the reference as prompt, one CFM call over all chunks, one vocoder call, SOLA
  crossfade at the seams, then split per segment.

Noise: each CFM call draws ``randn([B, 100, T])`` from ``generator`` (default: torch's global generator on the
stage's device, as upstream) in upstream's order, so with the same seed the same noise goes to the same call. A CPU
generator for a CUDA stage draws on the CPU (CPU and GPU runs then get the same noise). Tensors stay on the device from
the front end to the audio; the only host transfers are the SOLA shifts (one per call) and the runtimes' own checks.

On a GPU the prompt is prepared on the stage's own stream while the first segment's features are decoded on the
caller's (prompt.py): the two SoVITS decodes are launch-bound, so side by side they take about as long as one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch

from ..errors import GsvTrtError
from ..models.mel import denormalise_mel
from ..models.sovits.frontend import SovitsFrontEnd
from ..models.sovits.reference_audio import PreparedReference, ReferenceAudio, prepare_reference
from ..models.vocoder.config import spec_for
from .chunking import Chunking, batched_chunks, sequential_spans
from .prompt import Prompt, prepare_prompt
from .runners import CFMRunner, VocoderRunner
from .sola import sola_crossfade
from .streaming import VOCODER_REACH, StreamingVocoder, StreamPlan, stream_spans
from .timing import PartClock

if TYPE_CHECKING:  # either front end: the plain model or its torch-fast runner
    from ..runtime.sovits.torch_fast import TorchFastFrontEnd

MEL = 100
PATHS = ("sequential", "batched")


@dataclass
class Segment:
    """One text segment after the text-to-semantic model: 25 Hz semantic tokens [T] and phone ids [T_ph]."""

    codes: torch.Tensor
    phones: torch.Tensor


class SynthesisStage:
    """The v3/v4 synthesis stage over a front end, a CFM runner and a vocoder runner (runners.py), on ``device``."""

    def __init__(self, version: str, frontend: SovitsFrontEnd | TorchFastFrontEnd, cfm: CFMRunner,
                 vocoder: VocoderRunner, device: str | torch.device = "cpu", chunking: Chunking | None = None):
        if frontend.version != version:
            raise GsvTrtError(f"front end is {frontend.version}, stage is {version}")
        self.version = version
        self.device = torch.device(device)
        self.frontend = frontend.to(self.device).eval()
        self.cfm, self.vocoder = cfm, vocoder
        self.chunking = chunking or Chunking.for_version(version)
        self.clock = PartClock(self.device)  # off until measure()
        self._aside = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None  # for prompts

    @property
    def sample_rate(self) -> int:
        return spec_for(self.version).sample_rate

    def measure(self) -> PartClock:
        """Time the parts of the calls from now on (front end, CFM, vocoder, crossfade); read ``.seconds()``."""
        self.clock = PartClock(self.device, enabled=True)
        return self.clock

    def prompt(self, reference: PreparedReference, codes: torch.Tensor, phones: torch.Tensor) -> Prompt:
        """The reference and the prompt's tokens/phones, prepared once per request."""
        self.frontend.check_ids(codes.view(1, 1, -1), phones.view(1, -1))  # ids on the host, before the device
        with self.clock.part("front end"):
            if self._aside is None:
                return prepare_prompt(self.frontend, reference, codes, phones, self.chunking.t_ref)
            caller = torch.cuda.current_stream(self.device)
            self._aside.wait_stream(caller)
            with torch.cuda.stream(self._aside):
                prompt = prepare_prompt(self.frontend, reference, codes, phones, self.chunking.t_ref)
            for tensor in (prompt.fea, prompt.mel, prompt.ge):
                tensor.record_stream(caller)  # read there: the allocator must not hand the memory out earlier
            return prompt

    def features(self, prompt: Prompt, segment: Segment, speed: float) -> torch.Tensor:
        """The segment's CFM condition [1, 512, T] (style from the prompt's reference). Every path calls it before
        its first CFM call: from here on the current stream also waits for the whole prompt."""
        codes, phones = segment.codes.view(1, 1, -1), segment.phones.view(1, -1)
        self.frontend.check_ids(codes, phones)  # ids on the host, before the device
        with self.clock.part("front end"):
            codes, phones = codes.to(self.device), phones.to(self.device)
            prompt.wait_style()
            fea, _ = self.frontend.decode_encp(codes, phones, None, prompt.ge, speed)
            prompt.wait()
            return fea

    def _cfm(self, mu: torch.Tensor, prompt_mel: torch.Tensor, steps: int,
             generator: torch.Generator | None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        noise = torch.randn([mu.shape[0], MEL, mu.shape[1]], generator=generator, device=device).to(self.device)
        with self.clock.part("cfm"):
            return self.cfm(mu, prompt_mel, steps, noise)

    def _vocode(self, mel: torch.Tensor) -> torch.Tensor:
        with self.clock.part("vocoder"):
            return self.vocoder(denormalise_mel(mel))[0, 0]

    @torch.inference_mode()
    def sequential(self, prompt: Prompt, segments: list[Segment], steps: int = 32, speed: float = 1.0,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Upstream's ``parallel_infer=False``: audio [N_i] per segment."""
        return [self._sequential_one(prompt, self.features(prompt, s, speed), steps, generator) for s in segments]

    def _sequential_one(self, prompt: Prompt, fea: torch.Tensor, steps: int,
                        generator: torch.Generator | None) -> torch.Tensor:
        t_min = prompt.frames
        fea_ref, prompt_mel = prompt.fea, prompt.mel
        mels = []
        for start, stop in sequential_spans(fea.shape[2], self.chunking.chunk_len(t_min)):
            chunk = fea[:, :, start:stop]
            mu = torch.cat([fea_ref, chunk], 2).transpose(2, 1)
            mel = self._cfm(mu, prompt_mel, steps, generator)[:, :, prompt_mel.shape[2]:]
            prompt_mel, fea_ref = mel[:, :, -t_min:], chunk[:, :, -t_min:]
            mels.append(mel)
        return self._vocode(torch.cat(mels, 2))

    @torch.inference_mode()
    def batched(self, prompt: Prompt, segments: list[Segment], steps: int = 32, speed: float = 1.0,
                generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Upstream's ``parallel_infer=True``: audio [N_i] per segment."""
        feats = [self.features(prompt, s, speed) for s in segments]
        chunk_len = self.chunking.chunk_len(prompt.frames)
        overlap, hop = self.chunking.overlap, self.chunking.hop
        chunks, padding = batched_chunks(torch.cat(feats, 2), chunk_len, overlap)
        mu = torch.cat([prompt.fea.expand(chunks.shape[0], -1, -1), chunks], 2).transpose(2, 1)
        mel = self._cfm(mu, prompt.mel, steps, generator)[:, :, -chunk_len:]
        mel = mel.permute(1, 0, 2).reshape(MEL, -1).unsqueeze(0)
        audio = self._vocode(mel)
        with self.clock.part("crossfade"):
            audio = sola_crossfade(audio.view(chunks.shape[0], chunk_len * hop), overlap * hop)
            audio = audio[overlap * hop: audio.shape[0] - padding * hop]
            out = []
            for fea in feats:
                out.append(audio[: fea.shape[2] * hop])
                audio = audio[fea.shape[2] * hop:]
        return out

    @torch.inference_mode()
    def stream_mels(self, prompt: Prompt, fea: torch.Tensor, steps: int = 32, generator: torch.Generator | None = None,
                    plan: StreamPlan = StreamPlan()) -> Iterator[torch.Tensor]:
        """One segment's features [1, 512, T] -> its mel [1, 100, n] chunk by chunk (streaming.py: the plan)."""
        prompt.wait()
        t_min = prompt.frames
        fea_ref, prompt_mel = prompt.fea, prompt.mel
        later = plan.later or self.chunking.chunk_len(t_min)
        for start, stop in stream_spans(fea.shape[2], plan.first, later):
            chunk = fea[:, :, start:stop]
            mu = torch.cat([fea_ref, chunk], 2).transpose(2, 1)
            mel = self._cfm(mu, prompt_mel, steps, generator)[:, :, prompt_mel.shape[2]:]
            prompt_mel = torch.cat([prompt_mel, mel], 2)[:, :, -t_min:]
            fea_ref = torch.cat([fea_ref, chunk], 2)[:, :, -t_min:]
            yield mel

    def streaming_vocoder(self, plan: StreamPlan = StreamPlan()) -> StreamingVocoder:
        reach = VOCODER_REACH[self.version]
        context = reach if plan.context is None else plan.context
        holdback = reach if plan.holdback is None else plan.holdback
        return StreamingVocoder(_Timed(self.vocoder, self.clock), self.chunking.hop, context, holdback)

    def stream(self, prompt: Prompt, segments: list[Segment], steps: int = 32, speed: float = 1.0,
               generator: torch.Generator | None = None, plan: StreamPlan = StreamPlan()) -> Iterator[torch.Tensor]:
        """Audio pieces [n] as they are made, segments back to back; concatenated they differ from vocoding each
        segment's whole mel at once only at the chunk seams (not at all with the default plan, up to rounding)."""
        if not segments:
            raise GsvTrtError("segments: empty (nothing to synthesise)")
        for segment in segments:
            vocoder = self.streaming_vocoder(plan)
            for mel in self.stream_mels(prompt, self.features(prompt, segment, speed), steps, generator, plan):
                with torch.inference_mode():
                    audio = vocoder.feed(mel)
                if len(audio):
                    yield audio
            with torch.inference_mode():
                yield vocoder.flush()

    def synthesize(self, prompt: Prompt, segments: list[Segment], path: str = "batched", steps: int = 32,
                   speed: float = 1.0, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """``path`` "sequential" or "batched" (upstream's ``parallel_infer``, its default)."""
        if path not in PATHS:
            raise GsvTrtError(f"path {path!r}: expected one of {', '.join(PATHS)}")
        if not segments:
            raise GsvTrtError("segments: empty (nothing to synthesise)")
        run = self.sequential if path == "sequential" else self.batched
        return run(prompt, segments, steps, speed, generator)

    def warm_up(self, steps: int = 32, seconds: float = 5.0) -> float:
        """Compile and capture what a first request would need (the runtimes' kernels, which a restart loads from
        their caches, and the graphs of a short batched request) on made-up input, so that a server's first
        request does not pay for them; returns the seconds it took. The noise comes from a private generator: the
        global RNG, which upstream seeds per request, is left alone."""
        started = time.perf_counter()
        gen = torch.Generator().manual_seed(0)
        tokens = max(1, round(seconds * 25))
        clip = ReferenceAudio(0.1 * torch.randn(1, 4 * 32000, generator=gen), 32000, "warm-up noise")
        reference = prepare_reference(clip, self.version)
        prompt = self.prompt(reference, torch.randint(0, 1024, (50,), generator=gen),
                             torch.randint(0, 100, (25,), generator=gen))
        segment = Segment(torch.randint(0, 1024, (tokens,), generator=gen),
                          torch.randint(0, 100, (tokens // 2,), generator=gen))
        self.batched(prompt, [segment], steps, generator=torch.Generator(self.device).manual_seed(0))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - started


class _Timed:
    """A vocoder runner whose calls count as the stage's "vocoder" part."""

    def __init__(self, vocoder: VocoderRunner, clock: PartClock):
        self.vocoder, self.clock = vocoder, clock

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        with self.clock.part("vocoder"):
            return self.vocoder(mel)
