"""``gsv-trt engine --stage vocoder`` (what ``make engine`` runs first): export -> check -> build of the full-size
vocoders, cached, named by the weights inside (the CFM stage: test_cfm_engine.py).

Without a GPU the engines are built ahead of time with TensorRT-RTX. On a GPU with a TensorRT that can run there,
the engine's output is compared with the PyTorch fp32 reference.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from gsv_trt.build.flavour import RTX_RUNS_ON, Flavour, installed
from gsv_trt.build.sidecar import KEY_FIELDS, read_sidecar, sidecar_path
from gsv_trt.cli import main

NO_GPU = not torch.cuda.is_available()
needs_rtx = pytest.mark.skipif(isinstance(installed()["rtx"], str),
                               reason="TensorRT-RTX not installed (pip install -e '.[rtx]' from the checkout)")


def engine(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["engine", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@needs_rtx
def test_v4_engine_is_built_once_then_reused_and_rebuilt_when_stale(tmp_path, capsys):
    args = ("--version", "v4", "--stage", "vocoder", "--precision", "fp32", "--out-dir", str(tmp_path), "--trt", "rtx")
    plan = tmp_path / "gpt-sovits-v4-vocoder-fp32-random.plan"

    code, out, err = engine(capsys, *args)
    assert code == 0, err
    assert f"engine: {plan}" in out and f"sidecar: {sidecar_path(plan)}" in out
    assert "RANDOM weights" in err  # said at the start and at the end
    assert "PASSED" in err  # the exported graph was checked against PyTorch
    assert (tmp_path / "gpt-sovits-v4-vocoder-fp32-random.onnx").exists()
    sidecar = read_sidecar(plan)
    assert set(KEY_FIELDS) <= sidecar.keys() and sidecar["model"]["weights_sha256"] == "random"
    if NO_GPU:
        assert "ahead of time, no GPU here" in err and sidecar["tensorrt"]["flavour"] == "rtx"
    built_at = plan.stat().st_mtime_ns

    code, out, err = engine(capsys, *args)
    assert code == 0
    assert "reusing exported" in err and f"reusing cached engine {plan} (inputs unchanged)" in err
    assert plan.stat().st_mtime_ns == built_at

    stale = json.loads(sidecar_path(plan).read_text())
    stale["profiles"][0]["frames"][2] = 99999  # a sidecar that no longer describes its engine
    sidecar_path(plan).write_text(json.dumps(stale))
    code, out, err = engine(capsys, *args)
    assert code == 0
    assert "existing engine is unusable" in err and "cache_key does not match" in err
    assert read_sidecar(plan)["profiles"][0]["frames"][2] == 1024


@needs_rtx
def test_changed_export_options_rebuild(tmp_path, capsys):
    args = ("--version", "v4", "--stage", "vocoder", "--precision", "fp16", "--out-dir", str(tmp_path), "--trt", "rtx",
            "--no-check")
    assert engine(capsys, *args)[0] == 0
    code, _, err = engine(capsys, *args, "--no-fp32-islands")
    assert code == 0
    assert "exporting" in err
    assert re.search(r"\(.*onnx_sha256, fp32_islands changed\)", err)
    assert read_sidecar(tmp_path / "gpt-sovits-v4-vocoder-fp16-random.plan")["fp32_islands"] == []


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    code, _, err = engine(capsys, "--version", "v4", "--out-dir", str(tmp_path), "--max-frames", "0")
    assert code == 2 and err.strip().count("\n") == 0 and "frames: need 1 <= min" in err


@pytest.mark.slow
@needs_rtx
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_full_size_v3_engine(tmp_path, capsys, precision):
    """BigVGAN-v2, 112 M parameters: ~1 min to export and 30-40 s to build with TensorRT-RTX on 2 CPU cores."""
    code, _, err = engine(capsys, "--version", "v3", "--stage", "vocoder", "--precision", precision, "--out-dir",
                          str(tmp_path), "--trt", "rtx", "--no-check")
    assert code == 0, err
    sidecar = read_sidecar(tmp_path / f"gpt-sovits-v3-vocoder-{precision}-random.plan")
    assert sidecar["model"]["hop"] == 256 and sidecar["precision"] == precision
    assert sidecar["fp32_islands"] == ([] if precision == "fp32" else ["snake", "output"])


def runnable_flavour() -> str | None:
    """The TensorRT that can build and run an engine on this GPU, if one is installed."""
    found = installed()
    if isinstance(found["tensorrt"], Flavour):
        return "tensorrt"
    cc = "{}.{}".format(*torch.cuda.get_device_capability(0))
    if isinstance(found["rtx"], Flavour) and cc in RTX_RUNS_ON:
        return "rtx"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision, min_snr_db", [("fp32", 60.0), ("fp16", 40.0)])
def test_engine_matches_pytorch_on_the_gpu(tmp_path, capsys, precision, min_snr_db):
    from gsv_trt.models.vocoder import load_vocoder
    from gsv_trt.runtime.vocoder.torch_eager import TorchEagerVocoder
    from gsv_trt.runtime.vocoder.trt_engine import TensorRTVocoder

    flavour = runnable_flavour()
    if flavour is None:
        pytest.skip(f"no TensorRT here that runs on {torch.cuda.get_device_name(0)} (full TensorRT not installed; "
                    "TensorRT-RTX does not run on this GPU)")
    target = ("--target-cc", "current") if flavour == "rtx" else ()
    code, _, err = engine(capsys, "--version", "v4", "--stage", "vocoder", "--precision", precision, "--out-dir",
                          str(tmp_path), "--trt", flavour, "--no-check", *target)
    assert code == 0, err
    torch.backends.cudnn.allow_tf32 = False  # the reference is fp32, not TF32
    reference = TorchEagerVocoder(load_vocoder("v4"), "fp32", "cuda")
    with TensorRTVocoder(tmp_path / f"gpt-sovits-v4-vocoder-{precision}-random.plan") as vocoder:
        for batch, frames in ((2, 500), (1, 2000)):  # short and long profile
            mel = np.random.default_rng(frames).normal(-5, 2, (batch, 100, frames)).astype(np.float32)
            want = reference(mel)
            got = vocoder(mel)
            assert got.shape == want.shape == (batch, 1, 480 * frames)
            snr = 10 * np.log10(np.mean(want**2) / np.mean((got - want) ** 2))
            assert snr >= min_snr_db, f"{precision} B={batch} T={frames}: SNR {snr:.1f} dB"
            on_gpu = vocoder.infer(torch.from_numpy(mel).cuda())  # CUDA tensor in, CUDA tensor out
            assert on_gpu.is_cuda
            np.testing.assert_allclose(on_gpu.cpu().numpy(), got, atol=1e-6)
