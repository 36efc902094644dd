"""Our CFM reproduces upstream GPT-SoVITS's (fp32 eager), proven on golden fixtures made with upstream's code
(tools/make_cfm_fixtures.py); the Euler loop over a runtime estimator equals the model's; bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import CFM, FULL_DIT, DiT, DiTConfig
from gsv_trt.models.cfm.init import spread_init
from gsv_trt.models.cfm.loader import LoadedCFM
from gsv_trt.models.cfm.validate import UntrainedStepsWarning
from gsv_trt.runtime.cfm import euler
from gsv_trt.runtime.cfm.torch_eager import TorchEagerCFM

STEP_ATOL = 1e-5  # one estimator call
INFERENCE_ATOL = 1e-4  # a full 8-step inference
CASES = ("b1", "b3")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def small(fixtures):
    """The reduced-width CFM of the fixture, its weights loaded strictly, and the fixture's arrays."""
    meta = json.loads((fixtures / "cfm_small.json").read_text())
    data = dict(np.load(fixtures / "cfm_small.npz"))
    model = CFM(DiTConfig(**meta["config"])).eval()
    model.estimator.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in data.items() if k.startswith("w/")})
    return model, data, meta


def loaded(model: CFM) -> LoadedCFM:
    return LoadedCFM(model, "v4", "fixture", "0" * 64, False, "tests/fixtures/cfm_small.npz")


def case(data: dict, name: str) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith(f"{name}/")}


def test_full_size_names_shapes_and_size_are_upstreams(fixtures):
    # cfm.estimator.* of a real s2Gv3/s2Gv4 file (prefix stripped) must load strictly
    manifest = json.loads((fixtures / "cfm_manifest.json").read_text())
    with torch.device("meta"):
        dit = DiT(FULL_DIT)
    assert {k: list(v.shape) for k, v in dit.state_dict().items()} == manifest
    assert sum(p.numel() for p in dit.parameters()) == 337_106_020


@pytest.mark.parametrize("name", CASES)
def test_one_estimator_call_equals_upstream(small, name):
    model, data, _ = small
    io = case(data, name)
    with torch.no_grad():
        v = model.estimator(*(torch.from_numpy(io[k]) for k in ("x", "prompt_x", "t", "dt", "mu"))).numpy()
    assert v.shape == io["x"].shape
    assert np.abs(v - io["v"]).max() <= STEP_ATOL
    assert np.abs(io["v"]).mean() > 0.1  # the golden output is not degenerate


@pytest.mark.parametrize("name", CASES)
def test_inference_equals_upstream_on_the_same_noise(small, name):
    model, data, meta = small
    io = case(data, name)
    mu, prompt = torch.from_numpy(io["mu"]), torch.from_numpy(io["prompt"])
    frames, prompt_len = mu.shape[1], prompt.shape[-1]
    mel = model.inference(mu, torch.tensor([frames]), prompt, meta["steps"], noise=torch.from_numpy(io["noise"]))
    assert np.abs(mel.numpy() - io["mel"]).max() <= INFERENCE_ATOL
    assert not mel[..., :prompt_len].any()  # the prompt region is zeroed, as upstream's is
    # without noise it draws upstream's own noise: same seed, same mel
    torch.manual_seed(int(io["seed"]))
    drawn = model.inference(mu, torch.tensor([frames]), prompt, meta["steps"])
    assert np.abs(drawn.numpy() - io["mel"]).max() <= INFERENCE_ATOL


@pytest.mark.parametrize("name", CASES)
def test_euler_loop_over_a_numpy_estimator_equals_upstream(small, name):
    model, data, meta = small
    io = case(data, name)
    estimator = TorchEagerCFM(loaded(model))  # numpy in, numpy out: as ONNX-Runtime and TensorRT runtimes are
    mel = euler.inference(estimator, io["mu"], io["prompt"], meta["steps"], noise=io["noise"])
    assert isinstance(mel, np.ndarray) and mel.dtype == np.float32
    assert np.abs(mel - io["mel"]).max() <= INFERENCE_ATOL
    assert np.abs(estimator.inference(io["mu"], io["prompt"], meta["steps"], io["noise"]) - io["mel"]).max() \
        <= INFERENCE_ATOL


def test_eager_fp16_runs_as_upstream_is_half(small):
    # the whole model .half() and the loop in fp16 with fp16 noise drawn from the seed: upstream's is_half (CPU)
    model, data, meta = small
    io = case(data, "b3")
    runner = TorchEagerCFM(loaded(model), "fp16")
    torch.manual_seed(int(io["seed"]))
    mel = runner.inference(io["mu"], io["prompt"], meta["steps"])
    assert np.abs(mel - io["mel_fp16"]).mean() <= 1e-3 * np.abs(io["mel_fp16"]).mean()  # bit-equal on x86 here
    assert np.abs(mel - io["mel"]).mean() > 1e-3 * np.abs(io["mel"]).mean()  # it did run in fp16
    assert next(model.parameters()).dtype == torch.float32  # the caller's fp32 model is untouched


def test_eager_bf16_stays_near_fp32(small):
    model, data, meta = small
    io = case(data, "b3")
    runner = TorchEagerCFM(loaded(model), "bf16")
    assert runner.info.precision == "bf16"
    mel = runner.inference(io["mu"], io["prompt"], meta["steps"], io["noise"])
    err = np.abs(mel - io["mel"]).mean() / np.abs(io["mel"]).mean()
    assert 1e-3 < err < 0.1


@pytest.mark.slow
def test_full_size_estimator_equals_upstream(fixtures):
    # weights regenerated (not shipped) exactly as the fixture tool made them: spread_init(CFM(FULL_DIT), seed)
    meta = json.loads((fixtures / "cfm_full.json").read_text())
    io = np.load(fixtures / "cfm_full.npz")
    model = spread_init(CFM(DiTConfig(**meta["config"])), meta["spread_init_seed"]).eval()
    with torch.no_grad():
        v = model.estimator(*(torch.from_numpy(io[k]) for k in ("x", "prompt_x", "t", "dt", "mu"))).numpy()
    assert np.abs(v - io["v"]).max() <= STEP_ATOL


def test_spread_init_makes_the_output_depend_on_every_input():
    # the criterion of models/cfm/init.py: O(1) velocity; each input moves it by > 5 % (fp16 rounding: ~0.1 %)
    cfg = DiTConfig(dim=128, depth=4, heads=2, dim_head=64, text_dim=64, conv_layers=2)
    dit = spread_init(CFM(cfg), seed=3).estimator.eval()
    gen = torch.Generator().manual_seed(0)
    batch, frames, prompt_len = 2, 64, 24
    mu = torch.nn.functional.avg_pool1d(torch.randn(batch, 64, frames, generator=gen), 5, 1, 2).transpose(1, 2) * 2
    prompt_x = torch.zeros(batch, 100, frames)
    prompt_x[..., :prompt_len] = torch.rand(1, 100, prompt_len, generator=gen) * 1.6 - 1.2
    base = dict(x=torch.randn(batch, 100, frames, generator=gen), prompt_x=prompt_x, t=torch.full((batch,), 0.25),
                dt=torch.full((batch,), 1 / 8), mu=mu)
    with torch.no_grad():
        v = dit(**base)
        assert 0.3 < v.std() < 3
        changed = {
            "silent text": dict(mu=torch.zeros_like(mu)),
            "shuffled text": dict(mu=mu[:, torch.randperm(frames, generator=gen)]),
            "no prompt": dict(prompt_x=torch.zeros_like(prompt_x)),
            "other noise": dict(x=torch.randn(batch, 100, frames, generator=gen)),
            "t": dict(t=torch.full((batch,), 0.75)),
            "step size": dict(dt=torch.full((batch,), 1 / 32)),
        }
        for what, change in changed.items():
            rel = ((dit(**{**base, **change}) - v).abs().mean() / v.abs().mean()).item()
            assert rel > 0.05, f"{what}: the output moved by only {rel:.3%}"


def test_spread_init_is_deterministic_per_seed():
    cfg = DiTConfig(dim=64, depth=1, heads=2, dim_head=32, text_dim=32, conv_layers=1)
    a, b, c = (spread_init(CFM(cfg), seed).state_dict() for seed in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["estimator.proj_out.weight"], c["estimator.proj_out.weight"])
    assert a["estimator.text_embed.text_blocks.0.grn.gamma"].abs().min() > 0  # GRN is not the identity


@pytest.mark.parametrize("change, message", [
    (dict(x_lens=[40]), "x_lens: [40] differ from T=47"),
    (dict(inference_cfg_rate=0.7), "inference_cfg_rate=0.7: only 0 is supported"),
    (dict(n_timesteps=0), "n_timesteps: 0 is below 1"),
    (dict(prompt=torch.zeros(1, 100, 48)), "prompt: 48 frames is longer than mu (47 frames)"),
    (dict(prompt=torch.zeros(2, 100, 8)), "prompt: expected shape [1 or 3, 100, T_prompt], got [2, 100, 8]"),
    (dict(noise=torch.zeros(3, 100, 46)), "noise: expected shape [3, 100, 47]"),
    (dict(mu=torch.zeros(3, 47, 31)), "mu: expected shape [B, T, 32] (time-major features), got [3, 47, 31]"),
    (dict(mu=torch.zeros(1, 4097, 32)), "mu: T=4097 frames exceeds the 4096-frame position table"),
    (dict(noise=torch.zeros(3, 100, 47, dtype=torch.float64)), "noise: expected float32, got float64"),
])
def test_model_refuses_what_it_cannot_run(small, change, message):
    model, data, _ = small
    io = case(data, "b3")
    args = dict(mu=torch.from_numpy(io["mu"]), x_lens=torch.tensor([47]), prompt=torch.from_numpy(io["prompt"]),
                n_timesteps=8)
    with pytest.raises(GsvTrtError) as err:
        model.inference(**{**args, **change})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_runtime_refuses_nan_and_warns_on_untrained_steps(small):
    model, data, _ = small
    io = case(data, "b1")
    estimator = TorchEagerCFM(loaded(model))
    bad = io["mu"].copy()
    bad[0, 3, 5] = np.nan
    with pytest.raises(GsvTrtError, match="mu: contains NaN or Inf"):
        euler.inference(estimator, bad, io["prompt"], 8)
    with pytest.warns(UntrainedStepsWarning, match="steps: 6 is not a step count the model was trained for"):
        mel = euler.inference(estimator, io["mu"], io["prompt"], 6, noise=io["noise"])
    assert np.isfinite(mel).all()


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("name", CASES)
def test_eager_fp32_on_cuda_equals_upstream(small, name):
    torch.backends.cuda.matmul.allow_tf32 = False  # upstream's set_seed turns TF32 off
    model, data, meta = small
    io = case(data, name)
    runner = TorchEagerCFM(loaded(model), "fp32", "cuda")
    assert np.abs(runner.inference(io["mu"], io["prompt"], meta["steps"], io["noise"]) - io["mel"]).max() \
        <= INFERENCE_ATOL


@pytest.mark.gpu
@cuda
def test_eager_fp16_on_cuda_runs_as_upstream_is_half(small, upstream):
    # upstream's own model cast with .half() on the same GPU, same fp16 noise; needs ../shared/reference
    from gpt_sovits.cfm import CFM as RefCFM
    from gpt_sovits.f5_dit.dit import DiT as RefDiT

    model, data, meta = small
    cfg = model.estimator.cfg
    ref = RefCFM(100, RefDiT(dim=cfg.dim, depth=cfg.depth, heads=cfg.heads, dim_head=cfg.dim_head,
                             ff_mult=cfg.ff_mult, text_dim=cfg.text_dim, conv_layers=cfg.conv_layers))
    ref.estimator.load_state_dict(model.estimator.state_dict())
    ref = ref.eval().cuda().half()
    io = case(data, "b3")
    torch.manual_seed(0)
    want = ref.inference(torch.from_numpy(io["mu"]).cuda().half(), torch.tensor([io["mu"].shape[1]]).cuda(),
                         torch.from_numpy(io["prompt"]).cuda().half(), meta["steps"]).float().cpu().numpy()
    runner = TorchEagerCFM(loaded(model), "fp16", "cuda")
    torch.manual_seed(0)
    got = runner.inference(io["mu"], io["prompt"], meta["steps"])  # draws the same fp16 noise as upstream
    torch.manual_seed(0)
    fp32 = TorchEagerCFM(loaded(model), "fp32", "cuda").inference(
        io["mu"], io["prompt"], meta["steps"], torch.randn(io["noise"].shape, device="cuda", dtype=torch.half)
        .float().cpu().numpy())
    # same ops in the same precision; only SDPA's kernel may differ (upstream's mask rules out the flash kernel),
    # so ours is no farther from upstream's is_half than is_half is from fp32
    assert np.abs(got - want).mean() <= np.abs(want - fp32).mean()
