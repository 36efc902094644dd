"""The TensorRT runtime's checks, which run before any GPU work and so are tested on every machine: input
validation, and refusing an engine this machine cannot run (no GPU, wrong GPU, wrong or missing TensorRT)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gsv_trt.build.flavour import installed
from gsv_trt.build.profiles import make_profiles
from gsv_trt.errors import GsvTrtError
from gsv_trt.runtime import cuda
from gsv_trt.runtime.vocoder.trt_engine import TensorRTVocoder, check_mel, compatibility_problems
from test_sidecar import INPUTS, make_engine

PROFILES = make_profiles()  # short: B<=8, T 1-1024; long: B=1, T 1025-16384
H100 = cuda.GpuInfo(0, "NVIDIA H100 80GB HBM3", (9, 0), 80 * 2**30, "13.0", "13.0")
RTX_4090 = cuda.GpuInfo(0, "NVIDIA GeForce RTX 4090", (8, 9), 24 * 2**30, "13.0", "13.0")
TURING = cuda.GpuInfo(0, "NVIDIA GeForce RTX 2080 Ti", (7, 5), 11 * 2**30, "13.0", "13.0")
A100 = cuda.GpuInfo(0, "NVIDIA A100-SXM4-80GB", (8, 0), 80 * 2**30, "13.0", "13.0")
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def mel(batch: int = 1, frames: int = 100) -> np.ndarray:
    return np.random.default_rng(0).normal(-5, 2, (batch, 100, frames)).astype(np.float32)


def rtx_engine(version: str = "1.7.1.116") -> dict:
    return {**INPUTS, "tensorrt": {"flavour": "rtx", "module": "tensorrt_rtx", "version": version}}


def full_trt_engine(gpu_info: cuda.GpuInfo, version: str = "10.13.0.35") -> dict:
    return {**INPUTS, "tensorrt": {"flavour": "tensorrt", "module": "tensorrt", "version": version},
            "targets": {"compute_capabilities": [gpu_info.cc], "gpu": gpu_info.name}}


class FakeFlavour:
    """What compatibility_problems reads of an installed TensorRT: its version and label."""

    def __init__(self, version: str, label: str):
        self.version, self.label = version, label


# --- input validation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch, frames, profile", [(1, 1, 0), (8, 1024, 0), (1, 1025, 1), (1, 16384, 1)])
def test_valid_input_picks_the_smallest_profile(batch, frames, profile):
    assert check_mel(mel(batch, frames), PROFILES) == profile


@pytest.mark.parametrize("bad, message", [
    (np.zeros((100, 50), np.float32), r"expected shape \[B, 100, T\], got \[100, 50\]"),
    (np.zeros((1, 80, 50), np.float32), r"expected shape \[B, 100, T\], got \[1, 80, 50\]"),
    (np.zeros((1, 100, 50), np.float64), "expected float32, got float64"),
    (np.zeros((1, 100, 50), np.float16), "expected float32, got float16"),
    (np.zeros((1, 100, 0), np.float32), "empty input"),
    (np.zeros((1, 100, 16385), np.float32), r"T=16385 frames is outside the supported range \[1, 16384\]"),
    (np.zeros((9, 100, 50), np.float32), "batch 9 exceeds the maximum 8"),
    (np.zeros((2, 100, 2000), np.float32), "batch 2 x 2000 frames is outside every profile"),
])
def test_invalid_input_is_refused_with_its_reason(bad, message):
    with pytest.raises(GsvTrtError, match=message):
        check_mel(bad, PROFILES)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(value):
    bad = mel(2, 64)
    bad[1, 50, 10] = value
    with pytest.raises(GsvTrtError, match="NaN or Inf"):
        check_mel(bad, PROFILES)


def test_torch_tensors_are_validated_alike():
    assert check_mel(torch.from_numpy(mel(1, 2000)), PROFILES) == 1
    with pytest.raises(GsvTrtError, match="expected float32"):
        check_mel(torch.zeros(1, 100, 10, dtype=torch.float16), PROFILES)


def test_single_profile_engine_range():
    single = make_profiles(min_frames=16, max_frames=4096, max_batch=2, split_frames=0)
    assert check_mel(mel(2, 4096), single) == 0
    with pytest.raises(GsvTrtError, match=r"T=8 frames is outside the supported range \[16, 4096\]"):
        check_mel(mel(1, 8), single)


# --- which engines run where -------------------------------------------------------------------------------------

def test_rtx_engine_is_refused_on_hopper():
    problems = compatibility_problems(rtx_engine(), H100, FakeFlavour("1.7.1.116", "TensorRT-RTX 1.7.1.116"))
    assert problems == [
        "TensorRT-RTX engines run on compute capability 7.5/8.0/8.6/8.9/12.0/12.1 only; this GPU (NVIDIA H100 80GB "
        "HBM3, compute capability 9.0) is not supported: build with full TensorRT on this GPU (--trt tensorrt) or "
        "use the PyTorch runtime"]


def test_rtx_engine_runs_on_its_targets_only():
    rtx = FakeFlavour("1.7.1.116", "TensorRT-RTX 1.7.1.116")
    assert compatibility_problems(rtx_engine(), RTX_4090, rtx) == []
    assert compatibility_problems(rtx_engine(), A100, rtx) == []
    (problem,) = compatibility_problems(rtx_engine(), TURING, rtx)  # Turing is not in the default targets
    assert "not this GPU (NVIDIA GeForce RTX 2080 Ti, compute capability 7.5); rebuild with --target-cc 7.5" in problem


def test_full_tensorrt_engine_is_tied_to_its_gpu_and_version():
    trt10 = FakeFlavour("10.13.0.35", "TensorRT 10.13.0.35")
    assert compatibility_problems(full_trt_engine(H100), H100, trt10) == []
    (problem,) = compatibility_problems(full_trt_engine(A100), H100, trt10)
    assert "built by full TensorRT for NVIDIA A100-SXM4-80GB (compute capability 8.0)" in problem
    assert problem.endswith("rebuild it on this GPU")
    (problem,) = compatibility_problems(full_trt_engine(H100), H100, FakeFlavour("10.14.1.48", "TensorRT 10.14.1.48"))
    assert problem.startswith("engine was built with TensorRT 10.13.0.35 but TensorRT 10.14.1.48 is installed")


def test_missing_tensorrt_and_missing_gpu_are_both_named():
    problems = compatibility_problems(full_trt_engine(H100), None, "TensorRT is not importable here (No module "
                                      "named 'tensorrt')", no_gpu="no CUDA GPU (no NVIDIA driver on this machine)")
    assert problems == ["no CUDA GPU (no NVIDIA driver on this machine); TensorRT engines run on an NVIDIA GPU",
                        "engine needs TensorRT 10.13.0.35: TensorRT is not importable here (No module named "
                        "'tensorrt')"]


def test_info_says_what_can_build_and_run_where():
    from gsv_trt.commands.info import describe

    rtx = installed()["rtx"]
    if isinstance(rtx, str):
        pytest.skip(rtx)
    found = {"tensorrt": "TensorRT is not importable here", "rtx": rtx}
    on_h100 = describe(H100, found)
    assert on_h100[0] == "GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0, 80.0 GiB"
    assert "TensorRT: not available (TensorRT is not importable here)" in on_h100
    assert on_h100[-1] == f"can run: no {rtx.label} engines: it does not run on compute capability 9.0"
    assert describe(RTX_4090, found)[-1] == f"can run: {rtx.label} engines that target 8.9"
    no_gpu = describe(None, found, "no CUDA GPU (no NVIDIA driver on this machine)")
    assert no_gpu[0] == "GPU: no CUDA GPU (no NVIDIA driver on this machine)"
    assert no_gpu[-2].endswith("(no GPU needed)") and no_gpu[-1].startswith("can run: no TensorRT engine (no GPU)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_loading_without_a_gpu_is_one_clear_error(tmp_path):
    plan = make_engine(tmp_path, tensorrt={"flavour": "tensorrt", "module": "tensorrt", "version": "10.13.0.35"})
    with pytest.raises(GsvTrtError) as error:
        TensorRTVocoder(plan)
    message = str(error.value)
    assert message.startswith(f"{plan}: cannot run here: no CUDA GPU")
    assert "\n" not in message
    if not hasattr(installed()["tensorrt"], "version"):
        assert "engine needs TensorRT 10.13.0.35: TensorRT is not importable here" in message


def test_loading_checks_the_sidecar_first(tmp_path):
    plan = make_engine(tmp_path)
    plan.write_bytes(b"another engine's bytes")
    with pytest.raises(GsvTrtError, match="belongs to another engine"):
        TensorRTVocoder(plan)


def test_importing_the_runtime_does_not_import_torch():
    code = ("import sys, gsv_trt.runtime.vocoder.trt_engine, gsv_trt.runtime.cuda; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- on a GPU ----------------------------------------------------------------------------------------------------

@pytest.mark.gpu
@gpu
def test_rtx_engine_refusal_on_this_gpu(tmp_path):
    """On a GPU TensorRT-RTX does not support (the H100: 9.0) the engine is refused before TensorRT is touched."""
    here = cuda.gpu_info()
    if here.cc in ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1"):
        pytest.skip(f"{here.describe()} runs TensorRT-RTX engines")
    plan = make_engine(tmp_path)
    with pytest.raises(GsvTrtError) as error:
        TensorRTVocoder(plan)
    assert f"this GPU ({here.name}, compute capability {here.cc}) is not supported" in str(error.value)


@pytest.mark.gpu
@gpu
def test_cuda_tensors_are_validated_on_the_device():
    good = torch.from_numpy(mel(2, 500)).cuda()
    assert check_mel(good, PROFILES) == 0
    good[0, 0, 0] = float("nan")
    with pytest.raises(GsvTrtError, match="NaN or Inf"):
        check_mel(good, PROFILES)
