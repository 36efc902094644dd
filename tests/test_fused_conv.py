"""The fused channels-last conv (leaky ReLU in, bias + residual out, valid length) against F.conv1d."""

import pytest
import torch
import torch.nn.functional as F

from gsv_trt.errors import GsvTrtError
from gsv_trt.runtime.fused_conv import conv1d_nlc

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
REL_TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.5e-2}


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def test_refuses_cpu_tensors_with_a_clear_message():
    x = channels_last(torch.randn(1, 16, 20))
    with pytest.raises(GsvTrtError, match="CUDA GPU"):
        conv1d_nlc(x, torch.randn(3, 16, 16), torch.zeros(16), 1, 1, torch.tensor([20], dtype=torch.int32), 1)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("cin,cout,k,d,length,valid", [(16, 16, 3, 1, 1000, 1000), (32, 32, 7, 3, 777, 500),
                                                        (64, 64, 11, 5, 300, 1), (128, 128, 11, 3, 2000, 1999),
                                                        (256, 256, 3, 5, 129, 64), (16, 32, 7, 1, 5, 5)])
def test_matches_conv1d_of_leaky_relu_plus_residual(dtype, cin, cout, k, d, length, valid):
    gen = torch.Generator().manual_seed(cin + k + length)
    pad = (k * d - d) // 2
    x = torch.randn(2, cin, length, generator=gen)
    w = torch.randn(cout, cin, k, generator=gen) / (cin * k) ** 0.5
    b = torch.randn(cout, generator=gen)
    res = torch.randn(2, cout, length, generator=gen)
    x, w, b, res = (t.to(dtype) for t in (x, w, b, res))
    ref = F.conv1d(F.leaky_relu(x[..., :valid].double(), 0.1), w.double(), b.double(), 1, pad, d) + res[..., :valid]
    garbage = x.clone()
    garbage[..., valid:] = 1e3  # past the valid length: must read as zero
    y = conv1d_nlc(channels_last(garbage.cuda()), w.permute(2, 1, 0).contiguous().cuda(), b.cuda(), d, pad,
                   torch.tensor([valid], dtype=torch.int32, device="cuda"), 1, 0.1, channels_last(res.cuda()))
    assert y.shape == (2, cout, length) and y.stride(1) == 1 and y.dtype == dtype
    err = ((y[..., :valid].double().cpu() - ref).norm() / ref.norm()).item()
    assert err < REL_TOL[dtype]
    assert (y[..., valid:] == 0).all()
