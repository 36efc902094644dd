"""``--weights random`` gives a vocoder whose output depends on its input as a trained one's does, so `gsv-trt check`
made with random weights fails a graph that ignores its input or returns a constant (issue 15, item 1)."""

import numpy as np
import pytest
import torch
from torch import nn

from gsv_trt.cli import main
from gsv_trt.export.vocoder.exporter import export_onnx
from gsv_trt.models.mel import load_wav, shipped_speech, speech_mel
from gsv_trt.models.vocoder import load_vocoder, spec_for
from gsv_trt.models.vocoder.init import SILENT_LOG_MEL
from gsv_trt.models.vocoder.loader import LoadedVocoder, build_model

FRAMES = {"v4": 150, "v3": 60}  # v3 is 8x the compute: a shorter piece of the clip, still words and pauses


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def response(model: nn.Module, version: str) -> dict[str, float]:
    """The three figures of the criterion in models/vocoder/init.py, on the bundled speech clip."""
    spec = spec_for(version)
    mel = speech_mel(spec.mel, max_frames=FRAMES[version])
    silent = np.full_like(mel, SILENT_LOG_MEL)
    with torch.no_grad():
        speech_out, silent_out = model(torch.from_numpy(np.concatenate([mel, silent]))).numpy()[:, 0]
    clip = load_wav(shipped_speech(), spec.sample_rate)[: speech_out.size]
    out_energy = np.log(np.mean(speech_out.reshape(-1, spec.hop) ** 2, axis=1) + 1e-10)
    mel_energy = np.log(np.mean(np.exp(2 * mel[0]), axis=0) + 1e-10)
    return {"depends": rms(speech_out - silent_out) / rms(speech_out), "level": rms(speech_out) / rms(clip),
            "clipped": float(np.mean(np.abs(speech_out) > 0.99)),
            "envelope": float(np.corrcoef(out_energy, mel_energy)[0, 1])}


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_random_weights_respond_to_speech_like_a_trained_vocoder(version):
    r = response(load_vocoder(version).model, version)
    assert r["depends"] >= 0.9, r
    assert 1 / 3 <= r["level"] <= 3 and r["clipped"] < 0.01, r
    assert r["envelope"] >= 0.5, r


def test_upstream_init_fails_the_criterion():
    # the weights gsv-trt shipped before: upstream's untrained init, whose output ignores the mel
    torch.manual_seed(0)
    r = response(build_model("v4").eval(), "v4")
    assert r["depends"] < 0.01 and r["envelope"] < 0.5, r


class IgnoresInput(nn.Module):
    """The real vocoder, fed silence of the input's shape: right shape, right weights, deaf."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model(torch.full_like(mel, SILENT_LOG_MEL))


class Constant(nn.Module):
    """A waveform of the right shape holding one value."""

    def __init__(self, hop: int):
        super().__init__()
        self.hop = hop

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(mel[:, :1, :]).repeat(1, 1, self.hop) + 0.05


@pytest.fixture(scope="module")
def v4_random() -> LoadedVocoder:
    return load_vocoder("v4")


@pytest.mark.parametrize("wrapper", [IgnoresInput, Constant], ids=["ignores-input", "constant"])
def test_check_fails_a_graph_that_does_not_listen(tmp_path, capsys, v4_random, wrapper):
    loaded = v4_random
    fake = wrapper(loaded.model) if wrapper is IgnoresInput else wrapper(loaded.spec.hop)
    # the graph carries the random weights' metadata, so `check` compares it with the real random vocoder
    path = export_onnx(LoadedVocoder(fake.eval(), loaded.spec, loaded.weights, loaded.weights_sha256, loaded.config),
                       tmp_path / "deaf.onnx", "fp16", fp32_islands=False)
    assert main(["check", str(path), "--frames", "23", "--batches", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  speech" in out and "FAIL  responds to input" in out and "FAILED" in out
    assert "largely in fp32" in out  # an fp16 verdict from the CPU says what it does not show
