"""``accelerate(tts)``: GPT-SoVITS's own ``TTS`` object runs its v3/v4 synthesis on the project's runtimes.

What changes on the object (its class and upstream's files are untouched; ``Overlay.remove`` undoes it):

- ``vits_model.cfm`` and ``vocoder`` become :mod:`.modules` adapters over runtimes built from the weights the object
  loaded (after its LoRA merge), and ``using_vocoder_synthesis`` / ``..._batched_infer`` run the synthesis stage
  (gsv_trt/synthesis), which reproduces them with tensors kept on the device.
- ``init_vits_weights`` (startup, ``/set_sovits_weights``, ``run``'s error path), ``init_vocoder``,
  ``enable_half_precision`` and ``set_device`` are wrapped so that the swap survives them and follows v3<->v4
  switches; a v1/v2 model runs stock.
- ``run`` makes one request at a time (request_line.py) and, for v3/v4 with ``streaming_mode`` or
  ``return_fragment``, streams the stage's audio as it is made instead of upstream's per-segment fallback, in
  upstream's own output format (``(sample_rate, int16 array)`` pieces, each segment followed by its
  ``fragment_interval`` of silence). v3 with ``super_sampling`` cannot stream (AP_BWE needs the whole segment): it
  gets upstream's fragments.

Anything the overlay cannot do (an unknown upstream, a runtime that cannot run here, a bad config) is said in one
line and the stock pipeline keeps running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..errors import GsvTrtError
from ..models.sovits.reference_audio import ReferenceAudio, prepare_reference
from ..synthesis.runners import EngineOptions, cfm_runner, frontend_runner, vocoder_runner
from ..synthesis.stage import Segment, SynthesisStage
from ..synthesis.streaming import StreamPlan
from .compat import upstream_problem
from .config import OverlayConfig, read_overlay_config
from .modules import AcceleratedCFM, AcceleratedVocoder, StockVocoder
from .request_line import RequestLine

ATTRIBUTE = "_gsv_trt_overlay"
WRAPPED = ("init_vits_weights", "init_vocoder", "enable_half_precision", "set_device", "run",
           "using_vocoder_synthesis", "using_vocoder_synthesis_batched_infer")
VERSIONS = ("v3", "v4")


def say(line: str) -> None:
    print(f"gsv-trt: {line}", file=sys.stderr, flush=True)


def accelerate(tts: Any, config: OverlayConfig | None = None) -> "Overlay | None":
    """Accelerate upstream's ``TTS`` object ``tts`` as ``config`` says (None: the ``gsv_trt:`` section of the YAML
    it was loaded from). Returns the overlay, or None when the stock pipeline runs (switched off, or refused: the
    reason is printed in one line). Calling it again replaces the previous overlay."""
    previous = getattr(tts, ATTRIBUTE, None)
    if config is None:
        try:
            config = read_overlay_config(tts.configs.configs_path)
        except GsvTrtError as error:
            say(f"{error}; the stock pipeline keeps running")
            return None
    if previous is not None:
        previous.remove()
    if not config.use_tensorrt:
        say("use_tensorrt is false: the stock GPT-SoVITS pipeline runs")
        return None
    problem = upstream_problem(tts)
    if problem:
        say(f"{problem}; the stock pipeline keeps running")
        return None
    overlay = Overlay(tts, config)
    try:
        overlay.install()
    except GsvTrtError as error:
        overlay.remove()
        say(f"{error}; the stock pipeline keeps running")
        return None
    return overlay


class Overlay:
    """The swap on one ``TTS`` object; see the module docstring."""

    def __init__(self, tts: Any, config: OverlayConfig):
        self.tts, self.config = tts, config
        self.stock = {name: getattr(type(tts), name).__get__(tts) for name in WRAPPED}
        self.line = RequestLine()
        self.stage: SynthesisStage | None = None
        self.cfm: AcceleratedCFM | None = None  # kept across weight reloads of the same CFM weights
        self._prompt_key: tuple | None = None
        self._prompt = None
        self._swapped = False  # whether upstream's modules were replaced (remove() then reloads them)
        self.stream_plan = StreamPlan()  # chunk sizes of streamed requests (synthesis/streaming.py)

    # -- installing ----------------------------------------------------------------------------------------------

    def install(self) -> None:
        """Wrap the object's methods and swap the currently loaded model's parts (a v1/v2 model: when a v3/v4 one
        is loaded). Raises GsvTrtError when the parts cannot be built; ``remove`` then undoes what was done."""
        for name in WRAPPED:
            setattr(self.tts, name, getattr(self, f"_{name}"))
        setattr(self.tts, ATTRIBUTE, self)
        if self._accelerates():
            self._swap_parts()
        else:
            self._swap()

    def remove(self) -> None:
        """Back to the stock pipeline: upstream's methods, and its CFM and vocoder reloaded from the weights files."""
        for name in WRAPPED:
            self.tts.__dict__.pop(name, None)
        self.tts.__dict__.pop(ATTRIBUTE, None)
        if self._swapped:
            self.stage = self.cfm = None
            self.tts.init_vits_weights(self.tts.configs.vits_weights_path)
            self._swapped = False
            say("removed: the stock pipeline runs")

    @property
    def version(self) -> str:
        return self.tts.configs.version

    @property
    def device(self) -> torch.device:
        return torch.device(self.tts.configs.device)

    @property
    def precision(self) -> str:
        """The runtimes' compute precision: the config's on a GPU; fp32 on a CPU (half precision there is slow,
        and upstream itself forces ``is_half`` off)."""
        return self.config.precision if self.device.type == "cuda" else "fp32"

    def _engines(self) -> EngineOptions:
        return EngineOptions(out_dir=self.config.engine_dir, workspace_bytes=self.config.workspace_bytes,
                             max_batch=self.config.max_batch)

    def _accelerates(self) -> bool:
        return self.version in VERSIONS and bool(getattr(self.tts.configs, "use_vocoder", False))

    def _swap(self) -> None:
        """Replace the loaded v3/v4 model's CFM and vocoder; on failure say why and leave upstream's in place."""
        if not self._accelerates():
            self.stage = None
            say(f"{self.version} model: the stock pipeline runs (gsv-trt accelerates v3 and v4)")
            return
        try:
            self._swap_parts()
        except GsvTrtError as error:
            self.stage = None
            say(f"{error}; the stock {self.version} pipeline runs")

    def _swap_parts(self) -> None:
        from ..models.cfm.loader import cfm_from_state_dict
        from ..models.sovits.frontend_loader import build_frontend
        from ..models.vocoder.loader import vocoder_from_state_dict

        tts, version, device = self.tts, self.version, self.device
        source = f"loaded by GPT-SoVITS from {tts.configs.vits_weights_path}"
        started = time.perf_counter()
        parts = self.config.parts
        if "vocoder" in parts and not isinstance(tts.vocoder, AcceleratedVocoder):
            loaded = vocoder_from_state_dict(version, tts.vocoder.state_dict(), f"{version} vocoder {source}")
            runner = vocoder_runner(loaded, self.config.runtime, self.precision, device, self._engines())
            tts.vocoder.cpu()
            tts.vocoder = AcceleratedVocoder(runner, version)
            self._swapped = True
            say(f"{version} vocoder -> {_describe(runner)}")
        if "cfm" not in parts:
            self.stage = None
            return
        state = tts.vits_model.state_dict()
        if not isinstance(tts.vits_model.cfm, AcceleratedCFM):
            loaded = cfm_from_state_dict(version, state, source)
            if self.cfm is not None and (self.cfm.weights_sha256, self.cfm.version, self.cfm.device) == \
                    (loaded.weights_sha256, version, device):
                cfm = self.cfm  # the same weights again (the error path's reload): keep the captured graphs
            else:
                cfm = AcceleratedCFM(cfm_runner(loaded, self.config.runtime, self.precision, device, self._engines()),
                                     version, loaded.weights_sha256, device)
            tts.vits_model.cfm.cpu()
            tts.vits_model.cfm = cfm
            self.cfm, self._swapped = cfm, True
            say(f"{version} CFM -> {_describe(cfm.runner)}")
        frontend, front_info = frontend_runner(build_frontend(version, state, tts.configs.vits_weights_path),
                                               self.config.runtime, device, source, self.precision)
        say(f"{version} front end -> {_describe_info(front_info)}")
        vocoder = tts.vocoder.runner if isinstance(tts.vocoder, AcceleratedVocoder) else StockVocoder(tts)
        self.stage = SynthesisStage(version, frontend, self.cfm.runner, vocoder, device)
        self._prompt_key = self._prompt = None
        if device.type == "cuda":  # the first request should not pay for kernels and graphs: a short one now
            warm = self.stage.warm_up()
            torch.cuda.empty_cache()
            say(f"{version} warm-up {warm:.1f} s (kernels compiled or read from the cache, graphs captured)")
        say(f"{version} synthesis stage ready in {time.perf_counter() - started:.1f} s")

    # -- upstream's methods, wrapped -----------------------------------------------------------------------------

    def _init_vits_weights(self, weights_path: str) -> None:
        with self.line.lock:  # not while a request is being made
            before = self.tts.vits_model
            try:
                self.stock["init_vits_weights"](weights_path)
            finally:
                if self.tts.vits_model is not before and self.tts.vits_model is not None:
                    self._swap()

    def _init_vocoder(self, version: str) -> None:
        vocoder = self.tts.vocoder
        if isinstance(vocoder, AcceleratedVocoder) and vocoder.version == version:
            return  # already this version's, and vocoder_configs already describe it
        self.stock["init_vocoder"](version)

    def _enable_half_precision(self, enable: bool = True, save: bool = True) -> None:
        with self.line.lock:
            self.stock["enable_half_precision"](enable, save)  # the runtimes keep their precision; I/O follows

    def _set_device(self, device: torch.device, save: bool = True) -> None:
        with self.line.lock:
            self.stock["set_device"](device, save)
            if self._swapped:  # the runtimes live on the old device: rebuild them from the files on the new one
                self.stage = self.cfm = None
                self._swapped = False
                if isinstance(self.tts.vocoder, AcceleratedVocoder):
                    self.stock["init_vocoder"](self.version)  # upstream's own again, loaded onto the new device
                self._init_vits_weights(self.tts.configs.vits_weights_path)

    def _run(self, inputs: dict) -> Iterator[tuple[int, np.ndarray]]:
        streaming = self._streams(inputs)
        whole = not (inputs.get("streaming_mode", False) or inputs.get("return_fragment", False))
        if streaming:
            inputs = {**inputs, "streaming_mode": False, "return_fragment": True}  # upstream's own fallback, said
        return self.line.run(lambda: self.stock["run"](inputs), streaming, context=inputs, whole=whole)

    def _streams(self, inputs: dict) -> bool:
        wants = bool(inputs.get("streaming_mode", False) or inputs.get("return_fragment", False))
        upsampled = self.version == "v3" and inputs.get("super_sampling", False)
        return wants and self.stage is not None and not upsampled

    def _using_vocoder_synthesis(self, semantic_tokens: torch.Tensor, phones: torch.Tensor, speed: float = 1.0,
                                 sample_steps: int = 32) -> torch.Tensor:
        if self.stage is None:
            return self.stock["using_vocoder_synthesis"](semantic_tokens, phones, speed, sample_steps)
        segment = Segment(semantic_tokens.reshape(-1), phones.reshape(-1))
        if self.line.sink is not None:
            return self._stream(segment, speed, sample_steps)
        return self.stage.sequential(self._current_prompt(), [segment], sample_steps, speed)[0].clone()

    def _using_vocoder_synthesis_batched_infer(self, idx_list: list[int], semantic_tokens_list: list[torch.Tensor],
                                               batch_phones: list[torch.Tensor], speed: float = 1.0,
                                               sample_steps: int = 32) -> list[torch.Tensor]:
        if self.stage is None:
            return self.stock["using_vocoder_synthesis_batched_infer"](idx_list, semantic_tokens_list, batch_phones,
                                                                        speed, sample_steps)
        segments = [Segment(semantic_tokens_list[i][-idx:], batch_phones[i]) for i, idx in enumerate(idx_list)]
        if self.line.sink is not None:
            return [self._stream(segment, speed, sample_steps) for segment in segments]
        return [audio.clone() for audio in self.stage.batched(self._current_prompt(), segments, sample_steps, speed)]

    # -- the stage's inputs from upstream's prompt cache -----------------------------------------------------------

    def _current_prompt(self):
        """The stage's prompt for the reference and prompt text in ``tts.prompt_cache``, prepared once per change."""
        cache = self.tts.prompt_cache
        # the tensors themselves, not their ids: the key holds them, so a new reference's tensor cannot reuse an id
        key = (cache["raw_audio"], cache["raw_sr"], cache["prompt_semantic"], tuple(cache["phones"]))
        if self._prompt_key is None or any(a is not b if isinstance(a, torch.Tensor) else a != b
                                           for a, b in zip(key, self._prompt_key)):
            audio = ReferenceAudio(cache["raw_audio"].detach().float().cpu(), int(cache["raw_sr"]),
                                   str(cache.get("ref_audio_path") or "the reference audio"))
            reference = prepare_reference(audio, self.version)
            self._prompt = self.stage.prompt(reference, cache["prompt_semantic"].reshape(-1),
                                             torch.as_tensor(cache["phones"], dtype=torch.long))
            self._prompt_key = key
        return self._prompt

    def _stream(self, segment: Segment, speed: float, sample_steps: int) -> torch.Tensor:
        """Push the segment's audio as the stage makes it, then its silence; return it whole for upstream's run."""
        rate = self.tts.vocoder_configs["sr"]
        pieces = []
        for piece in self.stage.stream(self._current_prompt(), [segment], sample_steps, speed, plan=self.stream_plan):
            pieces.append(piece)
            self.line.push((rate, (piece.float().cpu().numpy() * 32768).astype(np.int16)))
        interval = self._fragment_interval()
        if interval > 0:
            self.line.push((rate, np.zeros(int(self.tts.configs.sampling_rate * interval), dtype=np.int16)))
        return torch.cat(pieces)

    def _fragment_interval(self) -> float:
        return float(self.line.context.get("fragment_interval", 0.3))  # TTS.run's default


def _describe(runner) -> str:
    return _describe_info(runner.info)


def _describe_info(info) -> str:
    return f"{info.name} {info.precision} on {info.device}" + (f" ({info.detail})" if info.detail else "")
