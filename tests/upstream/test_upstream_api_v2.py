"""Upstream's api_v2.py, unchanged, serving the random-weight files in-process through Starlette's TestClient:
/tts as one WAV and as a stream (WAV header, then PCM), and /set_sovits_weights refusing a missing file and
switching v4 -> v3. The tests share api_v2's one global pipeline, as requests to a running server do; the switch
runs last."""

from __future__ import annotations

import importlib
import io
import sys
import wave

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="module")
def api_v2(config_copy):
    """api_v2 imported as `python api_v2.py -c CONFIG` runs it: its argparse reads sys.argv at import time and the
    module builds the global TTS pipeline (v4, from the config) before the app serves anything. Forgotten after the
    module's tests, which frees the pipeline and lets another module import api_v2 with its own config."""
    saved = sys.argv
    sys.argv = ["api_v2.py", "-c", str(config_copy("v4", "api_v2"))]
    try:
        module = importlib.import_module("api_v2")
    finally:
        sys.argv = saved
    yield module
    del sys.modules["api_v2"]


@pytest.fixture(scope="module")
def client(api_v2, workspace):
    from fastapi.testclient import TestClient

    with TestClient(api_v2.APP) as client:
        # caches the prompt, so every request below samples alike (see test_upstream_tts.py)
        assert client.get("/set_refer_audio", params={"refer_audio_path": str(workspace.reference)}).status_code == 200
        yield client


def test_tts_answers_with_a_wav_of_what_the_pipeline_makes(api_v2, client, speech_request):
    response = client.post("/tts", json=speech_request())
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    audio, sr = sf.read(io.BytesIO(response.content), dtype="int16")
    # the request as tts_handle hands it to the pipeline: every TTS_Request default filled in (they differ from
    # TTS.run's own defaults, e.g. text_split_method cut5 vs cut1, and change the audio slightly)
    as_handled = {**api_v2.TTS_Request(**speech_request()).dict(), "return_fragment": False,
                  "fixed_length_chunk": False}
    direct_sr, direct = next(api_v2.tts_pipeline.run(as_handled))
    assert sr == direct_sr == 48000
    assert np.array_equal(audio, direct)


def test_streaming_mode_sends_a_wav_header_then_pcm(client, speech_request):
    whole = client.post("/tts", json=speech_request())
    streamed = client.post("/tts", json=speech_request(streaming_mode=1))  # v4: upstream's per-fragment fallback
    assert streamed.status_code == 200
    with wave.open(io.BytesIO(streamed.content[:44])) as header:
        assert (header.getframerate(), header.getnchannels(), header.getsampwidth()) == (48000, 1, 2)
    pcm = np.frombuffer(streamed.content[44:], dtype=np.int16)
    audio, _ = sf.read(io.BytesIO(whole.content), dtype="int16")
    assert np.array_equal(pcm, audio)


def test_set_sovits_weights_refuses_a_missing_file_and_switches_v4_to_v3(api_v2, client, workspace, speech_request):
    missing = client.get("/set_sovits_weights", params={"weights_path": str(workspace.root / "missing.pth")})
    assert missing.status_code == 400 and missing.json()["message"] == "change sovits weight failed"

    switched = client.get("/set_sovits_weights", params={"weights_path": str(workspace.loras["v3"])})
    assert switched.status_code == 200
    pipeline = api_v2.tts_pipeline
    assert pipeline.configs.version == "v3" and type(pipeline.vocoder).__name__ == "BigVGAN"
    response = client.post("/tts", json=speech_request())
    assert response.status_code == 200
    audio, sr = sf.read(io.BytesIO(response.content), dtype="int16")
    assert sr == 24000 and np.abs(audio.astype(np.float32)).mean() > 100
