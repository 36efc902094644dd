"""Where torch-fast keeps compiled code: one folder per GPU model and compiler versions, in the engines folder."""

import json
import os

import pytest
import torch

from gsv_trt.runtime.compile_cache import SIDECAR, cache_key, enable, hash_triton_install


def test_cache_key_names_the_gpu_and_compiler_versions():
    assert cache_key("NVIDIA H200", "9.0", "2.11.0+cu130", "3.6.0") == "nvidia-h200-cc9.0-torch2.11.0+cu130-triton3.6.0"
    assert cache_key("NVIDIA H200", "9.0", "2.11.0", "3.6.0") != cache_key("NVIDIA H100 80GB HBM3", "9.0", "2.11.0",
                                                                        "3.6.0")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_enable_points_both_compilers_at_the_engines_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    folder = enable(tmp_path)
    assert folder.parent == tmp_path.resolve()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"].startswith(str(folder))
    assert os.environ["TRITON_CACHE_DIR"].startswith(str(folder))
    sidecar = json.loads((folder / SIDECAR).read_text())
    assert sidecar["gpu"] == torch.cuda.get_device_name(0) and sidecar["torch"] == torch.__version__


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (and Triton)")
def test_enable_has_triton_hash_its_installation_ahead_of_the_first_kernel(tmp_path, monkeypatch):
    from triton.runtime.cache import triton_key

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    enable(tmp_path)
    thread = hash_triton_install()  # the thread enable started; later calls return the same one
    assert thread is not None and thread.name == "gsv-trt-triton-key"
    thread.join(timeout=60)
    assert triton_key.cache_info().currsize == 1  # the first kernel lookup finds the hash done
