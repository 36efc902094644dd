"""The torch-fast CFM on a GPU: every captured graph gives what our fp32 eager CFM gives (exact shapes, new data,
cache misses, batches), fp16 stays close to fp32, and a non-finite result falls back to a wider precision."""

import pytest
import torch

from gsv_trt.models.cfm.cfm import CFM
from gsv_trt.models.cfm.config import DiTConfig
from gsv_trt.models.cfm.init import spread_init

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
pytestmark = [pytest.mark.gpu, needs_gpu]
SMALL = DiTConfig(depth=2)  # full width (the kernels' real shapes), two blocks


@pytest.fixture(scope="module")
def model():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return spread_init(CFM(SMALL), seed=3).eval().cuda()


def inputs(batch: int, frames: int, prompt_len: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, frames, 512, generator=g)
    prompt = torch.randn(1, 100, prompt_len, generator=g)
    noise = torch.randn(batch, 100, frames, generator=g)
    return mu.cuda(), prompt.cuda(), noise.cuda()


def eager(model, mu, prompt, noise, steps):
    with torch.inference_mode():
        return model.inference(mu, torch.tensor([mu.shape[1]], device="cuda"), prompt, steps, noise=noise)


def fast(model, **options):
    from gsv_trt.runtime.cfm.torch_fast import FastOptions, TorchFastCFM

    return TorchFastCFM(model.estimator, FastOptions(**options), weights="RANDOM test weights")


def test_fp32_graph_equals_eager_and_replays_on_new_data(model):
    runtime = fast(model, precision="fp32")
    for seed in (0, 1):  # the second call replays the same graph on new inputs
        mu, prompt, noise = inputs(1, 160, 50, seed)
        mel = runtime.inference(mu, prompt, 8, noise=noise)
        assert (mel - eager(model, mu, prompt, noise, 8)).abs().max() <= 1e-4
    assert list(runtime.graphs) == [(1, 160, 8)]


def test_one_step_graphs_equal_eager_for_any_step_count(model):
    """Graph scope "step": one graph of a single step per (B, T) serves every step count, exactly."""
    runtime = fast(model, precision="fp32", graph_scope="step")
    for seed, batch, steps in ((0, 1, 8), (1, 1, 4), (2, 3, 8)):
        mu, prompt, noise = inputs(batch, 160, 50, seed)
        mel = runtime.inference(mu, prompt, steps, noise=noise)
        assert (mel - eager(model, mu, prompt, noise, steps)).abs().max() <= 1e-4
    assert list(runtime.graphs) == [(1, 160), (3, 160)]


def test_shapes_that_miss_the_cache_get_their_own_exact_graph(model):
    runtime = fast(model, precision="fp32", max_graphs=2)
    for batch, frames, prompt_len, steps in ((3, 120, 40, 4), (1, 97, 30, 4), (3, 120, 40, 8)):
        mu, prompt, noise = inputs(batch, frames, prompt_len, frames)
        mel = runtime.inference(mu, prompt, steps, noise=noise)
        assert mel.shape == (batch, 100, frames)
        assert (mel - eager(model, mu, prompt, noise, steps)).abs().max() <= 1e-4
        assert (mel[..., :prompt_len] == 0).all()  # the prompt region stays zeroed, as upstream's loop leaves it
    assert list(runtime.graphs) == [(1, 97, 4), (3, 120, 8)]  # LRU of two


@pytest.mark.parametrize("precision,choices,min_snr_db",
                         [("fp16", {}, 35.0), ("bf16", {}, 30.0),
                          ("fp16", {"attention": "flash", "residual_half": False}, 45.0),
                          ("bf16", {"attention": "flash"}, 30.0), ("bf16", {"residual_half": True}, 25.0)])
def test_half_precision_stays_close_to_fp32(model, precision, choices, min_snr_db):
    """The defaults (our Triton attention; in fp16 a half residual stream) and the alternatives (flash attention,
    an fp32 or bf16 residual stream)."""
    mu, prompt, noise = inputs(2, 200, 60, 7)
    ref = eager(model, mu, prompt, noise, 8)
    mel = fast(model, precision=precision, **choices).inference(mu, prompt, 8, noise=noise)
    err = (mel - ref)[..., 60:].pow(2).mean()
    snr = 10 * torch.log10(ref[..., 60:].pow(2).mean() / err)
    assert snr >= min_snr_db, f"{precision}, {choices}: {snr:.1f} dB"


@pytest.mark.parametrize("dtype,min_snr_db", [(torch.float16, 60.0), (torch.bfloat16, 40.0)])
def test_triton_attention_equals_sdpa_for_every_tile(dtype, min_snr_db):
    """Each tile the autotuner may pick, at upstream's shapes (16 heads of 64, T = 934 / 1000, B = 1 / 3) and at a T
    that every tile divides (no partial last tile), against float64 softmax attention on the same rounded inputs."""
    import torch.nn.functional as F

    from gsv_trt.runtime.kernels.attention import TILES, fused_qkv_attention

    gen = torch.Generator(device="cuda").manual_seed(0)
    for batch, frames in ((1, 934), (3, 1000), (2, 512)):
        qkv = (2 * torch.randn(batch, frames, 3 * 1024, device="cuda", generator=gen)).to(dtype)
        q, k, v = (qkv[..., j * 1024:(j + 1) * 1024].view(batch, frames, 16, 64).transpose(1, 2).double()
                   for j in range(3))
        ref = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, frames, 1024)
        for tile in [*TILES, None]:  # None: the autotuned choice
            err = fused_qkv_attention(qkv, 16, tile=tile).double() - ref
            snr = 10 * torch.log10(ref.pow(2).sum() / err.pow(2).sum())
            assert snr >= min_snr_db, f"tile {tile}, B {batch}, T {frames}: {snr:.1f} dB"


def test_conv_implementations_agree(model):
    mu, prompt, noise = inputs(1, 150, 40, 9)
    mels = {conv: fast(model, precision="fp32", conv=conv).inference(mu, prompt, 4, noise=noise)
            for conv in ("triton", "cudnn", "unfold")}
    assert (mels["triton"] - mels["cudnn"]).abs().max() <= 1e-4
    assert (mels["triton"] - mels["unfold"]).abs().max() <= 1e-4


def test_non_finite_fp16_falls_back_to_bf16_with_a_message(model):
    broken = CFM(SMALL).eval().cuda()
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():  # fp16 overflows (> 65504) in the feed-forward; bf16 and fp32 do not
        broken.estimator.transformer_blocks[0].ff.ff[2].weight.mul_(1e6)
    messages = []
    runtime = fast(broken, precision="fp16")
    runtime.log = messages.append
    mu, prompt, noise = inputs(1, 100, 30, 11)
    mel = runtime.inference(mu, prompt, 4, noise=noise)
    assert torch.isfinite(mel).all()
    assert runtime.options.precision == "bf16"
    assert any("falling back to bf16" in m for m in messages)
