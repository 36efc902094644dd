"""The torch-fast runtime: bucket choice and module swapping (CPU), and on a GPU the promise that a padded,
graph-captured run gives what un-padded fp32 eager gives, for both vocoders, both layouts and any length."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.models.vocoder.activation import Activation1d
from gsv_trt.runtime.vocoder.concurrent_stage import ConcurrentStage
from gsv_trt.runtime.kernels.fused_activation import FusedActivation1d
from gsv_trt.runtime.kernels.fused_stage import FusedStage
from gsv_trt.runtime.vocoder.torch_eager import TorchEagerVocoder
from gsv_trt.runtime.vocoder.torch_fast import FastConv, TorchFastVocoder, build_fast_model, parse_buckets, pick_bucket

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def v3():
    return load_vocoder("v3")


@pytest.fixture(scope="module")
def v4():
    return load_vocoder("v4")


def snr_db(y: torch.Tensor, ref: torch.Tensor) -> float:
    y, ref = y.double(), ref.double()
    return (10 * torch.log10(ref.pow(2).sum() / (y - ref).pow(2).sum().clamp_min(1e-30))).item()


def test_pick_bucket_takes_the_smallest_that_fits():
    buckets = (64, 128, 256)
    assert pick_bucket(1, buckets) == 64
    assert pick_bucket(64, buckets) == 64
    assert pick_bucket(65, buckets) == 128
    assert pick_bucket(256, buckets) == 256
    assert pick_bucket(257, buckets) is None
    assert pick_bucket(10, ()) is None


def test_parse_buckets_sorts_and_refuses_nonsense():
    assert parse_buckets("256, 64,128,64") == (64, 128, 256)
    assert parse_buckets("") == ()
    with pytest.raises(GsvTrtError, match="frame counts"):
        parse_buckets("64,abc")
    with pytest.raises(GsvTrtError, match=">= 1"):
        parse_buckets("0,64")


@pytest.mark.parametrize("version,layout", [("v3", "nlc"), ("v4", "nlc"), ("v4", "ncl")])
def test_build_swaps_every_activation_and_conv_in_a_private_copy(version, layout, v3, v4):
    loaded = v3 if version == "v3" else v4
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    valid = torch.ones(1, dtype=torch.int32)
    fast = build_fast_model(loaded, torch.float16, layout, valid)
    kinds = [type(m) for m in fast.modules()]
    assert Activation1d not in kinds and torch.nn.Conv1d not in kinds and torch.nn.ConvTranspose1d not in kinds
    convs = [m for m in fast.modules() if isinstance(m, FastConv)]
    acts = [m for m in fast.modules() if isinstance(m, FusedActivation1d)]
    stages = [m for m in fast.modules() if isinstance(m, FusedStage)]
    assert all(m.weight.dtype == torch.float16 and m.valid is valid for m in convs)
    if version == "v3":
        # only the upsamplers' inputs need their tails cleared; activations do it for everything else
        assert len(acts) == 18 * 6 + 1 and not stages
        assert sorted((m.zero, m.rate) for m in convs if m.zero) == [("input", r) for r in (1, 4, 16, 32, 64, 128)]
        assert sorted({a.rate for a in acts}) == [4, 16, 32, 64, 128, 256]
        # convs1 feed an activation only: their bias moves into that activation's kernel
        for block, original in zip(fast.resblocks, loaded.model.resblocks):
            assert all(c.bias is None for c in block.convs1) and all(c.bias is not None for c in block.convs2)
            for i, c1 in enumerate(original.convs1):
                assert torch.equal(block.activations[2 * i + 1].input_bias, c1.bias.float())
                assert not block.activations[2 * i].input_bias.any()
    elif layout == "nlc":
        # narrow stages: one fused kernel each, handling the edge itself; wide stages: resblocks side by side, every
        # cuDNN conv clearing its tail
        assert not acts and [s.rate for s in stages] == [240, 480]  # the 32- and 16-channel stages
        assert [type(s) for s in fast.stages] == [ConcurrentStage] * 3 + [FusedStage] * 2
        assert all(isinstance(r, torch.nn.Identity) for r in fast.resblocks)  # their weights moved
        ups = [m for m in convs if m.transposed]
        assert [u.zero for u in ups] == ["output", "output", "output", None, None]
        assert fast.conv_pre.zero == "output" and fast.conv_post.zero is None
    else:
        assert not stages and all(m.zero == "output" for m in convs if m is not fast.conv_post)
        assert all(isinstance(s, torch.nn.Identity) for s in fast.stages)  # the upstream mean, one block at a time
    after = loaded.model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == torch.float32 for k in before)


def test_fp32_keeps_cudnn_for_every_stage_unless_asked(v4):
    """At fp32 cuDNN beats the fused stage kernel (docs/torch-fast.md); tests still force it to check its edges."""
    valid = torch.ones(1, dtype=torch.int32)
    assert not any(isinstance(m, FusedStage) for m in build_fast_model(v4, torch.float32, "nlc", valid).modules())
    forced = build_fast_model(v4, torch.float32, "nlc", valid, fused_stage_channels=64)
    assert sum(isinstance(m, FusedStage) for m in forced.modules()) == 3


def test_refuses_to_start_without_a_gpu(v4):
    if torch.cuda.is_available():
        with pytest.raises(GsvTrtError, match="needs a CUDA GPU"):
            TorchFastVocoder(v4, device="cpu")
    else:
        with pytest.raises(GsvTrtError, match="needs a CUDA GPU"):
            TorchFastVocoder(v4)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("version", ["v3", "v4"])
@pytest.mark.parametrize("layout", ["nlc", "ncl"])
def test_padded_graph_runs_equal_unpadded_fp32_eager(version, layout, v3, v4):
    """fp32, TF32 off: any difference beyond rounding would be the padding leaking into the real signal."""
    loaded = v3 if version == "v3" else v4
    with torch.backends.cudnn.flags(enabled=True, deterministic=True, allow_tf32=False):
        eager = TorchEagerVocoder(loaded, "fp32", "cuda")
        fast = TorchFastVocoder(loaded, "fp32", "cuda", buckets=(8, 64), use_compile="none", layout=layout,
                                fused_stage_channels=64)
        gen = torch.Generator().manual_seed(1)
        for frames in (37, 64, 1, 5, 70):  # padded, exact bucket, T = 1, small bucket, beyond every bucket
            mel = torch.randn(2, 100, frames, generator=gen).cuda()
            ref = eager.forward_tensor(mel)
            y = fast.forward_tensor(mel)
            assert y.shape == ref.shape == (2, 1, loaded.spec.hop * frames)
            assert snr_db(y, ref) > 90, frames
    assert set(fast.capture_seconds) == {(2, 64), (2, 8)}
    assert "captured b2x64" in fast.info.detail and fast.info.name == "torch-fast"


@pytest.mark.gpu
@needs_gpu
def test_compiled_graphs_keep_the_padding_out_too(v4):
    """torch.compile replaces the tail-zeroing kernel by a mask it fuses; the result must not change. Inputs past
    the largest bucket run the plain modules: no compile for their shape."""
    from torch._dynamo.utils import counters

    with torch.backends.cudnn.flags(enabled=True, deterministic=True, allow_tf32=False):
        eager = TorchEagerVocoder(v4, "fp32", "cuda")
        fast = TorchFastVocoder(v4, "fp32", "cuda", buckets=(64,), use_compile="default", fused_stage_channels=32)
        gen = torch.Generator().manual_seed(3)
        mel = torch.randn(1, 100, 37, generator=gen).cuda()
        assert snr_db(fast.forward_tensor(mel), eager.forward_tensor(mel)) > 90
        assert "compile default" in fast.info.detail
        graphs = counters["stats"]["unique_graphs"]
        long = torch.randn(1, 100, 70, generator=gen).cuda()
        assert snr_db(fast.forward_tensor(long), eager.forward_tensor(long)) > 90
        assert counters["stats"]["unique_graphs"] == graphs


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("version,min_snr", [("v3", 40.0), ("v4", 55.0)])
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_real_speech_is_close_to_fp32(version, min_snr, precision, v3, v4):
    """A real LibriTTS mel through fp16/bf16 graphs vs fp32 eager (random weights; bf16 has 3 fewer mantissa bits,
    worth ~20 dB)."""
    loaded = v3 if version == "v3" else v4
    mel = np.load(FIXTURES / f"libritts_2s_mel_{version}.npy")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        ref = TorchEagerVocoder(loaded, "fp32", "cuda")(mel)
    fast = TorchFastVocoder(loaded, precision, "cuda", buckets=(256,), use_compile="none")
    y = fast(mel)
    assert y.dtype == np.float32 and y.shape == ref.shape
    bound = min_snr if precision == "fp16" else min_snr - 20
    assert snr_db(torch.from_numpy(y), torch.from_numpy(ref)) > bound


@pytest.mark.gpu
@needs_gpu
def test_cudnn_heuristics_instead_of_its_search_keep_the_quality(v3):
    """cudnn_benchmark=False (no per-process search: the faster restart) and a shorter search pick other conv
    algorithms, not other numbers; the full search stays the default."""
    mel = np.load(FIXTURES / "libritts_2s_mel_v3.npy")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        ref = TorchEagerVocoder(v3, "fp32", "cuda")(mel)
    search = TorchFastVocoder(v3, "fp16", "cuda", buckets=(256,), use_compile="none")
    fast = TorchFastVocoder(v3, "fp16", "cuda", buckets=(256,), use_compile="none", cudnn_benchmark=False)
    short = TorchFastVocoder(v3, "fp16", "cuda", buckets=(256,), use_compile="none", cudnn_benchmark_limit=3)
    assert "cuDNN heuristics" in fast.info.detail and "cuDNN benchmark (limit 10)" in search.info.detail
    assert "cuDNN benchmark (limit 3)" in short.info.detail
    for runtime in (search, fast, short):
        assert snr_db(torch.from_numpy(runtime(mel)), torch.from_numpy(ref)) > 40.0
    with pytest.raises(GsvTrtError, match="cudnn_benchmark_limit -1"):
        TorchFastVocoder(v3, "fp16", "cuda", cudnn_benchmark_limit=-1)


@pytest.mark.gpu
@needs_gpu
def test_one_graph_serves_many_lengths_and_batches_stay_independent(v4):
    """Batch items never mix: the same item next to different neighbours gives the same output (same graph, same
    kernels); against batch 1 (another graph, other cuDNN algorithms) it differs only by fp16 rounding."""
    fast = TorchFastVocoder(v4, "fp16", "cuda", buckets=(128,), use_compile="none")
    gen = torch.Generator().manual_seed(2)
    a, b, c = (torch.randn(1, 100, 100, generator=gen).cuda() for _ in range(3))
    ya, yb = fast.forward_tensor(a), fast.forward_tensor(b)
    both, other = fast.forward_tensor(torch.cat([a, b])), fast.forward_tensor(torch.cat([a, c]))
    assert snr_db(both[0:1], other[0:1]) > 100  # a's output does not depend on its neighbour
    assert snr_db(both[0:1], ya) > 40 and snr_db(both[1:2], yb) > 40  # a leak or a swap would be ~0 dB
    assert snr_db(both[1:2], other[1:2]) < 20  # b and c differ, so the check above can fail
    short = fast.forward_tensor(a[..., :30])  # same graph, shorter input: the tail of the last run must not leak
    again = TorchFastVocoder(v4, "fp16", "cuda", buckets=(), use_compile="none").forward_tensor(a[..., :30])
    assert snr_db(short, again) > 40
    assert set(fast.capture_seconds) == {(1, 128), (2, 128)}


@pytest.mark.gpu
@needs_gpu
def test_rejects_bad_input(v4):
    fast = TorchFastVocoder(v4, "fp16", "cuda", buckets=(), use_compile="none")
    with pytest.raises(GsvTrtError, match="shape"):
        fast.forward_tensor(torch.zeros(1, 80, 10, device="cuda"))
    with pytest.raises(GsvTrtError, match="float32"):
        fast(np.zeros((1, 100, 10), dtype=np.float64))
    with pytest.raises(GsvTrtError, match="NaN"):
        fast(np.full((1, 100, 10), np.nan, dtype=np.float32))
