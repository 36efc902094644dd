"""Upstream's api_v2 app, unchanged, with the overlay on its global pipeline (CPU, eager runtimes, random-weight
files): v4 streams in api_v2's own format as the stage makes the audio, a streaming and a plain request running at
the same time each get their own audio (the one they get alone), and a /set_sovits_weights switch to v3 keeps the
pipeline accelerated."""

from __future__ import annotations

import io
import threading
import wave

import numpy as np
import pytest
import soundfile as sf
import yaml

from gsv_trt.gpt_sovits.config import SECTION
from gsv_trt.gpt_sovits.modules import AcceleratedCFM, AcceleratedVocoder
from gsv_trt.gpt_sovits.server import api_v2_app

# the two lines a user adds to tts_infer.yaml (README), with the CPU's runtime and precision spelled out
ACCELERATED = {"use_tensorrt": True, "runtime": "eager", "tensorrt_precision": "fp32"}


@pytest.fixture(scope="module")
def api_v2(workspace, config_copy):
    """api_v2 as the launcher serves it (gsv-trt gpt-sovits api_v2, without uvicorn), the user's config asking for
    the overlay in its gsv_trt: section."""
    config = config_copy("v4", "overlay_api")
    config.write_text(yaml.dump({**yaml.safe_load(config.read_text()), SECTION: ACCELERATED}))
    with api_v2_app(workspace.root, config) as launched:
        assert isinstance(launched.module.tts_pipeline.vits_model.cfm, AcceleratedCFM), launched.what_runs
        yield launched.module


@pytest.fixture(scope="module")
def client(api_v2, workspace):
    from fastapi.testclient import TestClient

    with TestClient(api_v2.APP) as client:
        assert client.get("/set_refer_audio", params={"refer_audio_path": str(workspace.reference)}).status_code == 200
        yield client


def pcm_of(response) -> tuple[int, np.ndarray]:
    """A streamed /tts body: a WAV header (44 bytes, length 0), then raw int16 PCM."""
    with wave.open(io.BytesIO(response.content[:44])) as header:
        assert (header.getnchannels(), header.getsampwidth()) == (1, 2)
        rate = header.getframerate()
    return rate, np.frombuffer(response.content[44:], dtype=np.int16)


def test_v4_streams_in_api_v2s_format(client, speech_request):
    whole = client.post("/tts", json=speech_request())
    assert whole.status_code == 200
    audio, sr = sf.read(io.BytesIO(whole.content), dtype="int16")
    for mode in (1, 2, 3):  # upstream turns all three into per-fragment returns for v3/v4; here they stream
        streamed = client.post("/tts", json=speech_request(streaming_mode=mode))
        assert streamed.status_code == 200
        rate, pcm = pcm_of(streamed)
        # the stage's stream starts with a short chunk, so only the length (and rate) must match the whole
        assert rate == sr == 48000 and len(pcm) == len(audio), mode


def test_a_streaming_and_a_plain_request_at_once_each_get_their_own_audio(client, speech_request):
    requests = {"stream": speech_request(streaming_mode=1, seed=7), "plain": speech_request(seed=8)}
    alone = {name: client.post("/tts", json=body).content for name, body in requests.items()}
    together: dict[str, bytes] = {}

    def send(name: str) -> None:
        together[name] = client.post("/tts", json=requests[name]).content

    threads = [threading.Thread(target=send, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone
    assert alone["stream"][44:] != alone["plain"][44:]  # different seeds: a mix-up would show


def test_set_sovits_weights_to_v3_keeps_the_pipeline_accelerated(api_v2, client, workspace, speech_request):
    switched = client.get("/set_sovits_weights", params={"weights_path": str(workspace.loras["v3"])})
    assert switched.status_code == 200
    pipeline = api_v2.tts_pipeline
    assert pipeline.configs.version == "v3"
    assert isinstance(pipeline.vits_model.cfm, AcceleratedCFM) and pipeline.vits_model.cfm.version == "v3"
    assert isinstance(pipeline.vocoder, AcceleratedVocoder) and pipeline.vocoder.version == "v3"
    assert pipeline.vocoder_configs["sr"] == 24000
    rate, pcm = pcm_of(client.post("/tts", json=speech_request(streaming_mode=1)))
    assert rate == 24000 and np.abs(pcm.astype(np.float32)).mean() > 100
