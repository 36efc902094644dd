"""``accelerate(tts)`` on upstream's own TTS object (CPU, fp32, random-weight files): the swap is transparent — the
same seed gives the same audio as the stock pipeline — streams v3/v4 as the stage makes the audio, refuses an
upstream it does not know, and leaves the stock pipeline running whenever it cannot accelerate."""

from __future__ import annotations

import numpy as np
import pytest

from gsv_trt.gpt_sovits import OverlayConfig, accelerate
from gsv_trt.gpt_sovits.compat import upstream_problem
from gsv_trt.gpt_sovits.modules import AcceleratedCFM, AcceleratedVocoder
from gsv_trt.synthesis.streaming import StreamPlan

EAGER = OverlayConfig(use_tensorrt=True, runtime="eager")
# int16 steps: the stage equals upstream's synthesis functions within 1e-4 in fp32 (tests/test_synthesis_stage.py)
STOCK_TOLERANCE = 4


@pytest.fixture(scope="module")
def tts(upstream_tts, config_copy, workspace):
    pipeline = upstream_tts.TTS(upstream_tts.TTS_Config(str(config_copy("v4", "overlay"))))
    pipeline.set_ref_audio(str(workspace.reference))  # cached prompt: same seed, same audio (test_upstream_tts.py)
    return pipeline


@pytest.fixture(scope="module")
def stock(tts, speech_request):
    """The stock pipeline's audio for the sequential and the batched path, before anything is swapped."""
    assert type(tts.vits_model.cfm).__name__ == "CFM"
    return {path: next(tts.run(speech_request(parallel_infer=path == "batched")))
            for path in ("sequential", "batched")}


def test_gsv_trt_knows_this_upstream_and_refuses_a_changed_one(tts, capsys):
    assert upstream_problem(tts) is None
    original = type(tts)

    class Changed(original):
        def using_vocoder_synthesis(self, semantic_tokens, phones, speed=1.0, sample_steps=32):
            return super().using_vocoder_synthesis(semantic_tokens, phones, speed, sample_steps * 2)

    tts.__class__ = Changed
    try:
        assert accelerate(tts, EAGER) is None
    finally:
        tts.__class__ = original
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "using_vocoder_synthesis differs from GPT-SoVITS 48b1a01" in message[0]
    assert "stock pipeline keeps running" in message[0] and "run" not in vars(tts)


def test_switched_off_or_unrunnable_it_leaves_the_stock_pipeline(tts, capsys):
    assert accelerate(tts, OverlayConfig(use_tensorrt=False)) is None
    assert "stock GPT-SoVITS pipeline runs" in capsys.readouterr().err
    # TensorRT cannot run on a CPU: one line, and upstream's own CFM and vocoder stay
    overlay = accelerate(tts, OverlayConfig(use_tensorrt=True, runtime="tensorrt"))
    err = capsys.readouterr().err
    assert "tensorrt" in err and "stock" in err
    assert overlay is None or overlay.stage is None
    if overlay is not None:
        overlay.remove()
    assert type(tts.vits_model.cfm).__name__ == "CFM" and type(tts.vocoder).__name__ == "Generator"


@pytest.fixture(scope="module")
def overlay(tts, stock):
    configs_before = dict(tts.vocoder_configs)
    accelerated = accelerate(tts, EAGER)
    assert tts.vocoder_configs == configs_before  # upstream's synthesis settings stay as upstream set them
    yield accelerated
    accelerated.remove()


def test_accelerated_audio_equals_stock_for_the_same_seed(tts, overlay, stock, speech_request):
    assert isinstance(tts.vits_model.cfm, AcceleratedCFM) and isinstance(tts.vocoder, AcceleratedVocoder)
    for path, (stock_sr, stock_audio) in stock.items():
        sr, audio = next(tts.run(speech_request(parallel_infer=path == "batched")))
        assert sr == stock_sr and audio.shape == stock_audio.shape, path
        difference = np.abs(audio.astype(np.int32) - stock_audio.astype(np.int32)).max()
        assert difference <= STOCK_TOLERANCE, f"{path}: max |int16 difference| {difference}"


def test_streaming_sends_pieces_as_they_are_made_and_they_add_up(tts, overlay, speech_request):
    whole_sr, whole = next(tts.run(speech_request()))  # upstream's sequential path, accelerated
    # one CFM chunk for the whole (short) segment, as the sequential path: only the vocoder's pieces differ
    overlay.stream_plan = StreamPlan(first=10_000)
    pieces = list(tts.run(speech_request(streaming_mode=True)))
    assert {sr for sr, _ in pieces} == {whole_sr}
    assert len(pieces) == 3  # the audio the vocoder can already make, the held-back rest, fragment_interval's silence
    streamed = np.concatenate([piece for _, piece in pieces])
    assert streamed.shape == whole.shape
    assert np.abs(streamed.astype(np.int32) - whole.astype(np.int32)).max() <= 2
    # short chunks (the default plan starts with 40 frames): more pieces, the same length, other chunking
    overlay.stream_plan = StreamPlan(first=12, later=16)
    short = list(tts.run(speech_request(streaming_mode=True)))
    assert len(short) > len(pieces) and sum(len(p) for _, p in short) == len(whole)
    overlay.stream_plan = StreamPlan()


def test_remove_gives_back_the_stock_pipeline(tts, overlay, stock, speech_request):
    overlay.remove()
    assert type(tts.vits_model.cfm).__name__ == "CFM" and type(tts.vocoder).__name__ == "Generator"
    assert "run" not in vars(tts)
    assert np.array_equal(next(tts.run(speech_request()))[1], stock["sequential"][1])
