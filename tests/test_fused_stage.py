"""The fused v4 stage (three ResBlock1 and their mean in one kernel) against the model's own resblocks."""

import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder.generator import LRELU_SLOPE
from gsv_trt.runtime.kernels.fused_stage import FusedStage, fused_stage_fits, stage_halo

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
REL_TOL = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def test_v4_halo_is_sixty_samples_each_side():
    # kernel 11, dilations 1, 3, 5: paddings 5 + 5, 15 + 5, 25 + 5
    assert stage_halo((3, 7, 11), (1, 3, 5)) == 60


def test_fits_the_v4_narrow_stages_only(v4_stage_blocks):
    assert all(fused_stage_fits(v4_stage_blocks(c)) for c in (16, 32, 64))
    assert not fused_stage_fits(v4_stage_blocks(128))
    assert not fused_stage_fits(v4_stage_blocks(16)[:2])
    with pytest.raises(GsvTrtError, match="3 resblocks"):
        FusedStage(v4_stage_blocks(128), torch.float16, LRELU_SLOPE, 1, torch.ones(1, dtype=torch.int32))


def test_refuses_cpu_tensors_with_a_clear_message(v4_stage_blocks):
    stage = FusedStage(v4_stage_blocks(16), torch.float32, LRELU_SLOPE, 1, torch.tensor([20], dtype=torch.int32))
    with pytest.raises(GsvTrtError, match="CUDA GPU"):
        stage(channels_last(torch.randn(1, 16, 20)))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("channels,length,valid", [(16, 5000, 5000), (32, 3001, 1500), (64, 300, 1), (16, 7, 7),
                                                   (64, 2000, 1999)])
def test_matches_the_mean_of_the_resblocks(dtype, channels, length, valid, v4_stage_blocks):
    """Batch 2, input past the valid length set to 1e3: it must read as zero and come out as zero."""
    blocks = v4_stage_blocks(channels, seed=length)
    x = torch.randn(2, channels, length, generator=torch.Generator().manual_seed(valid)).to(dtype)
    with torch.no_grad():
        ref = sum(b.double()(x[..., :valid].double()) for b in blocks) / 3
    x[..., valid:] = 1e3
    stage = FusedStage(blocks, dtype, LRELU_SLOPE, 1, torch.tensor([valid], dtype=torch.int32, device="cuda"))
    y = stage.cuda()(channels_last(x.cuda()))
    assert y.shape == (2, channels, length) and y.stride(1) == 1 and y.dtype == dtype
    err = ((y[..., :valid].double().cpu() - ref).norm() / ref.norm()).item()
    assert err < REL_TOL[dtype]
    assert (y[..., valid:] == 0).all()


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("channels", [16, 32])
def test_stale_scratch_never_reaches_the_output(channels, v4_stage_blocks):
    """The kernel reads its scratch unmasked a few rows past what the previous conv computed (those rows only feed
    rows no later conv keeps): hand it NaN-filled memory as scratch and the output must still be exact."""
    blocks = v4_stage_blocks(channels, seed=3)
    x = torch.randn(1, channels, 4000, generator=torch.Generator().manual_seed(3)).half()
    with torch.no_grad():
        ref = sum(b.double()(x.double()) for b in blocks) / 3
    stage = FusedStage(blocks, torch.float16, LRELU_SLOPE, 1, torch.tensor([4000], dtype=torch.int32, device="cuda"))
    stage, xc = stage.cuda(), channels_last(x.cuda())
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    poison = torch.full((1 << 26,), float("nan"), dtype=torch.float16, device="cuda")
    del poison  # back in the caching allocator, NaN-filled: the stage's scratch comes out of it
    y = stage(xc)
    assert torch.isfinite(y).all()
    assert ((y.double().cpu() - ref).norm() / ref.norm()).item() < REL_TOL[torch.float16]
