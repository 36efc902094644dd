"""The fused anti-aliased SnakeBeta kernel against the PyTorch form (models.activation.Activation1d).

GPU tests compare every output sample on random and real-speech inputs, odd lengths, T = 1, batch > 1, both memory
layouts and all three dtypes, plus the valid-length contract the graph buckets rely on. On a CPU they skip visibly.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.models.vocoder.activation import Activation1d
from gsv_trt.runtime.kernels import fused_activation as fa

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FIXTURES = Path(__file__).parent / "fixtures"
# relative L2 error allowed per I/O dtype: fp32 is exact math (accurate sin); fp16/bf16 round input and output
REL_TOL = {torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 1.5e-2}


def make_act(channels: int, seed: int = 0) -> Activation1d:
    gen = torch.Generator().manual_seed(seed)
    act = Activation1d(channels)
    with torch.no_grad():  # trained alpha/beta are spread around 0 in log scale
        act.act.alpha.copy_(0.5 * torch.randn(channels, generator=gen))
        act.act.beta.copy_(0.5 * torch.randn(channels, generator=gen))
    return act.eval()


def run_fused(act: Activation1d, x: torch.Tensor, valid: int | None = None, rate: int = 1,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    dev = x.device
    v = None if valid is None else torch.tensor([valid], dtype=torch.int32, device=dev)
    return fa.fused_activation(x, act.act.alpha.detach().to(dev), act.act.beta.detach().to(dev),
                               act.upsample.filter.reshape(-1).to(dev), act.downsample.lowpass.filter.reshape(-1).to(dev),
                               v, rate, None if bias is None else bias.to(dev))


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30)).item()


def test_imports_and_refuses_cpu_tensors_with_a_clear_message():
    act = make_act(4)
    with pytest.raises(GsvTrtError, match="CUDA GPU"):
        run_fused(act, torch.randn(1, 4, 16))


def test_layout_of_names_time_and_channel_contiguous_tensors():
    x = torch.randn(2, 8, 50)
    assert fa.layout_of(x) == "ncl"
    assert fa.layout_of(channels_last(x)) == "nlc"
    with pytest.raises(GsvTrtError, match="strides"):
        fa.layout_of(x.permute(2, 1, 0).contiguous().permute(2, 1, 0))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("layout", ["ncl", "nlc"])
@pytest.mark.parametrize("batch,channels,length", [(1, 3, 1), (2, 5, 2), (3, 48, 37), (2, 96, 1001), (1, 768, 4 * 93)])
def test_matches_pytorch_on_random_inputs(dtype, layout, batch, channels, length):
    act = make_act(channels, seed=length)
    x = torch.randn(batch, channels, length, generator=torch.Generator().manual_seed(length)).to(dtype)
    with torch.no_grad():
        ref = act(x.float())  # the PyTorch form in fp32 on the same (rounded) input
    xd = x.cuda()
    if layout == "nlc":
        xd = channels_last(xd)
    y = run_fused(act.cuda(), xd)
    assert y.dtype == dtype and y.shape == x.shape and y.stride() == xd.stride()
    assert torch.isfinite(y).all()
    assert rel_err(y.float().cpu(), ref) < REL_TOL[dtype]


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("layout", ["ncl", "nlc"])
def test_real_speech_activations_match(layout):
    """The first activation of v3's first resblock, fed by conv_pre of a real LibriTTS mel (random weights)."""
    loaded = load_vocoder("v3")
    mel = torch.from_numpy(np.load(FIXTURES / "libritts_2s_mel_v3.npy"))
    model = loaded.model
    with torch.no_grad():
        x = model.ups[0][0](model.conv_pre(mel))  # [1, 768, 4T]
        act = model.resblocks[0].activations[0]
        ref = act(x)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        xd = x.to(dtype).cuda()
        if layout == "nlc":
            xd = channels_last(xd)
        with torch.no_grad():
            ref_d = act(x.to(dtype).float())
        y = run_fused(act.cuda(), xd).float().cpu()
        act.cpu()
        assert rel_err(y, ref_d) < REL_TOL[dtype], dtype
        assert rel_err(y, ref) < 3 * REL_TOL[dtype] + 1e-3, dtype


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("layout", ["ncl", "nlc"])
@pytest.mark.parametrize("valid", [1, 2, 9, 600, 1023, 1024])
def test_valid_length_acts_as_if_the_signal_ended_there(layout, valid):
    """Past ``valid*rate`` the buffer holds garbage: the output must equal the activation of the cut signal,
    then zeros, which is what the graph buckets rely on."""
    rate, length = 4, 1024
    act = make_act(16, seed=valid).cuda()
    x = torch.randn(2, 16, length, device="cuda")
    cut = min(length, valid * rate)
    garbage = x.clone()
    garbage[..., cut:] = 1e4
    if layout == "nlc":
        garbage = channels_last(garbage)
    y = run_fused(act, garbage, valid=valid, rate=rate)
    with torch.no_grad():
        ref = act(x[..., :cut])
    assert rel_err(y[..., :cut], ref) < REL_TOL[torch.float32]
    assert (y[..., cut:] == 0).all()


@pytest.mark.gpu
@needs_gpu
def test_zero_tail_clears_only_the_tail():
    x = torch.randn(2, 3, 5000, device="cuda", dtype=torch.float16)
    keep = x[..., :3 * 480].clone()
    fa.zero_tail_(x, torch.tensor([3], dtype=torch.int32, device="cuda"), 480)
    assert torch.equal(x[..., :3 * 480], keep)
    assert (x[..., 3 * 480:] == 0).all()


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("layout", ["ncl", "nlc"])
def test_input_bias_is_added_before_the_activation(layout):
    """The bias of the conv feeding the activation, folded into the kernel: act(x + b), edges included."""
    act = make_act(32, seed=3).cuda()
    x = torch.randn(2, 32, 301, device="cuda")
    bias = torch.randn(32, device="cuda")
    xd = channels_last(x) if layout == "nlc" else x
    y = run_fused(act, xd, valid=250, bias=bias)
    with torch.no_grad():
        ref = act(x[..., :250] + bias[:, None])
    assert rel_err(y[..., :250], ref) < REL_TOL[torch.float32]
    assert (y[..., 250:] == 0).all()
