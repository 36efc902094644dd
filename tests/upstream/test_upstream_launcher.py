"""``gsv-trt gpt-sovits api_v2``'s import path on upstream's real api_v2 (the random-weight workspace): the app it
gives answers /tts as upstream's does, the config's ``gsv_trt:`` section outlives the pipeline's startup, and a
restart would run the launcher again. One request (v4, 10 tokens, 2 steps, sequential path: ~30 s on a CPU)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import soundfile as sf
import yaml

from gsv_trt.gpt_sovits.config import SECTION, OverlayConfig, read_overlay_config
from gsv_trt.gpt_sovits.server import api_v2_app, launcher_argv

STOCK = {"use_tensorrt": False, "tensorrt_precision": "fp32", "runtime": "eager"}


@pytest.fixture(scope="module")
def launched(workspace, config_copy):
    """What the launcher serves, without uvicorn: api_v2 imported under the checkout with the launcher's argv."""
    config = config_copy("v4", "launcher")
    config.write_text(yaml.dump({**yaml.safe_load(config.read_text()), SECTION: STOCK}))
    restart = launcher_argv(workspace.root, config, "127.0.0.1", 9880)
    with api_v2_app(workspace.root, config, "127.0.0.1", 9880, restart_argv=restart) as launched:
        yield launched, config, restart
    assert "api_v2" not in sys.modules  # forgotten: its pipeline goes with the last reference


def test_the_stock_app_answers_tts(launched, speech_request):
    from fastapi.testclient import TestClient

    launched, config, _ = launched
    assert launched.overlay == OverlayConfig(precision="fp32", runtime="eager")
    assert launched.what_runs == \
        f"api_v2 (GPT-SoVITS v4): stock pipeline (gsv_trt.use_tensorrt is not true in {config})"
    pipeline = launched.module.tts_pipeline
    assert (type(pipeline.vits_model.cfm).__name__, type(pipeline.vocoder).__name__) == ("CFM", "Generator")

    response = TestClient(launched.app).post("/tts", json=speech_request())
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    audio, sr = sf.read(io.BytesIO(response.content), dtype="int16")
    assert sr == 48000 and len(audio) > 0.4 * sr and np.abs(audio.astype(np.float32)).mean() > 100


def test_the_section_outlives_the_pipelines_startup(launched):
    launched, config, _ = launched
    saved = yaml.safe_load(config.read_text())  # upstream rewrote it twice (T2S and SoVITS weight loads)
    assert saved[SECTION] == STOCK and saved["custom"]["version"] == "v4"
    assert read_overlay_config(config) == launched.overlay


def test_a_restart_runs_the_launcher_not_bare_api_v2(launched):
    launched, config, restart = launched
    # api_v2's /control?command=restart does os.execl(sys.executable, sys.executable, *argv) with its module's argv
    assert launched.module.argv == restart
    assert restart[:4] == ["-m", "gsv_trt", "gpt-sovits", "api_v2"] and restart[-2:] == ["-c", str(config)]
