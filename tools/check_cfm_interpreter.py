"""The torch-fast CFM's Triton kernels on a CPU, in Triton's interpreter: the runtime's defaults (our attention, the
fp16 residual stream), both graph scopes' step code (run without graphs) and the old choices, against our fp32
eager CFM on a 2-block full-width DiT with RANDOM weights. For whoever changes these kernels without a GPU; the
GPU tests (tests/test_cfm_torch_fast.py) remain the check that counts. bf16 gives garbage in the interpreter only.

    pip install --target /tmp/tri triton==3.6.0 && pip install --target /tmp/np2 "numpy<2.3"
    TRITON_INTERPRET=1 PYTHONPATH=/tmp/np2:/tmp/tri:. python tools/check_cfm_interpreter.py
"""
import functools
import os
import sys

import torch
if os.environ.get("TRITON_INTERPRET") != "1":
    sys.exit("set TRITON_INTERPRET=1 (and PYTHONPATH to a Triton install): see this file's docstring")
torch.cuda.is_available = lambda: True
torch.cuda.get_device_name = lambda *a, **k: "cpu (Triton interpreter)"
torch.cuda.synchronize = lambda *a, **k: None
from gsv_trt.runtime import compile_cache
compile_cache.enable = lambda *a, **k: None
import gsv_trt.runtime.kernels.attention as att
att.fused_qkv_attention = functools.partial(att.fused_qkv_attention, tile=(32, 32, 4, 1))  # no autotuning here
from gsv_trt.models.cfm.config import DiTConfig
from gsv_trt.models.cfm.loader import random_cfm
from gsv_trt.quality.metrics import snr_db
from gsv_trt.runtime.cfm.torch_fast import FastOptions, TorchFastCFM

cfg = DiTConfig(dim=1024, depth=2, heads=16, dim_head=64, text_dim=512, conv_layers=1)
loaded = random_cfm("v4", cfg)
model = loaded.model.eval()
g = torch.Generator().manual_seed(0)
B, T, P, steps = 1, 96, 32, 4
mu = torch.randn(B, T, 512, generator=g)
prompt = torch.randn(B, 100, P, generator=g)
noise = torch.randn(B, 100, T, generator=g)
with torch.inference_mode():
    ref = model.inference(mu, [T] * B, prompt, steps, noise=noise)


def snr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mel SNR of ``a`` against ``b`` with the prompt frames left out, as the bench's gate."""
    return snr_db(b[..., P:].numpy(), a[..., P:].numpy())


for opts in [  # fp32 (attention falls back to SDPA); the defaults in both scopes; the old fp16 choices
        FastOptions(precision="fp32", graphs=False), FastOptions(precision="fp16", graphs=False),
             FastOptions(precision="fp16", graphs=False, graph_scope="step"),
             FastOptions(precision="fp16", graphs=False, attention="flash", residual_half=False)]:
    rt = TorchFastCFM(model.estimator, opts, device="cpu", weights="RANDOM")
    out = rt.inference(mu, prompt, steps, noise=noise)
    print(f"{opts.precision} {opts.graph_scope}: {rt.info.detail.split(';')[0]} | mel SNR vs eager fp32 "
          f"{snr(out, ref):.1f} dB (RANDOM weights)")
