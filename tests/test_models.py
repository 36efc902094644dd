"""Our vocoders reproduce upstream GPT-SoVITS exactly (fp32 eager), proven on shipped golden fixtures."""

import json

import numpy as np
import pytest
import torch

from gsv_trt.models.vocoder import build_model, load_vocoder, spec_for
from gsv_trt.models.strict_load import load_strict
from gsv_trt.models.uninitialised import uninitialised
from gsv_trt.models.vocoder.checkpoint import fold_weight_norm, read_checkpoint, unwrap_state_dict
from gsv_trt.models.vocoder.config import BigVGANConfig, GeneratorConfig
from gsv_trt.models.vocoder.generator import Generator
from gsv_trt.models.mel import speech_mel

PARITY_ATOL = 1e-5


def run(model, mel: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(mel)).numpy()


def test_v3_matches_upstream_golden_outputs(fixtures):
    # a reduced-width BigVGAN saved by upstream code (weight norm applied), loaded through the real v3 loader
    loaded = load_vocoder("v3", fixtures / "v3_small")
    io = np.load(fixtures / "v3_small" / "io.npz")
    for name in ("speech", "random_b2"):
        out = run(loaded.model, io[name])
        assert out.shape == (io[name].shape[0], 1, 256 * io[name].shape[2])
        assert np.abs(out - io[f"{name}_wav"]).max() <= PARITY_ATOL
    assert np.abs(io["speech_wav"]).max() > 0.05  # the fixture exercises the network, not a near-zero output


def test_v4_matches_upstream_golden_outputs(fixtures):
    # a reduced-width v4 Generator saved as upstream's vocoder.pth (bare state dict without weight norm)
    width = json.loads((fixtures / "v4_small" / "config.json").read_text())["upsample_initial_channel"]
    model = Generator(GeneratorConfig(upsample_initial_channel=width)).eval()
    path = fixtures / "v4_small" / "vocoder.pth"
    load_strict(model, fold_weight_norm(unwrap_state_dict(read_checkpoint(path), path, "v4")), path, "v4")
    io = np.load(fixtures / "v4_small" / "io.npz")
    for name in ("speech", "random_b2"):
        out = run(model, io[name])
        assert out.shape == (io[name].shape[0], 1, 480 * io[name].shape[2])
        assert np.abs(out - io[f"{name}_wav"]).max() <= PARITY_ATOL


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_full_size_state_dict_matches_upstream_manifest(fixtures, version):
    manifest = json.loads((fixtures / f"manifest_{version}.json").read_text())
    # the manifest is the file layout: v3 still carries weight_g/weight_v, which loading folds into weight
    expected = {}
    for key, shape in manifest.items():
        if key.endswith(".weight_v"):
            expected[key[: -len("_v")]] = shape
        elif not key.endswith(".weight_g"):
            expected[key] = shape
    ours = {k: list(v.shape) for k, v in build_model(version).state_dict().items()}
    assert ours == expected
    params = sum(p.numel() for p in build_model(version).parameters())
    assert params == {"v3": 112_414_512, "v4": 14_425_409}[version]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v3", "v4"])
def test_full_size_parity_with_upstream_on_real_speech(upstream, version):
    """Full-size models, same random weights, the shipped speech clip: max |ours - upstream| <= 1e-5."""
    torch.manual_seed(0)
    if version == "v3":
        ref = upstream["BigVGAN"](upstream["AttrDict"](BigVGANConfig().to_dict()))
    else:
        ref = upstream["Generator"]()
    state = fold_weight_norm(ref.state_dict())
    ref.remove_weight_norm()
    ours = build_model(version).eval()
    ours.load_state_dict(state)
    mel = speech_mel(spec_for(version).mel, max_frames=120)
    assert np.abs(run(ours, mel) - run(ref.eval(), mel)).max() <= PARITY_ATOL


def test_random_weights_are_reproducible_and_announced():
    a, b = load_vocoder("v4"), load_vocoder("v4", "random")
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert a.is_random and "RANDOM" in a.provenance and a.weights_sha256 == "random"


def test_weight_norm_folding_equals_torch_remove_weight_norm():
    conv = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(8, 4, 6, 2))
    folded = fold_weight_norm(conv.state_dict())
    torch.nn.utils.remove_weight_norm(conv)
    assert set(folded) == {"weight", "bias"}
    assert torch.allclose(folded["weight"], conv.weight, atol=1e-7, rtol=0)


def test_loaders_skip_init_and_refuse_a_model_a_state_dict_would_not_fill():
    # what the loaders and the torch-fast vocoder build before loading every tensor strictly
    model = uninitialised(lambda: Generator(GeneratorConfig(upsample_initial_channel=32)))
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    model.load_state_dict(Generator(GeneratorConfig(upsample_initial_channel=32)).state_dict())

    class Positions(torch.nn.Module):  # the CFM's text embedding keeps such a table out of its state dict
        def __init__(self):
            super().__init__()
            self.register_buffer("table", torch.arange(8.0), persistent=False)

    with pytest.raises(ValueError, match="buffer table is not in the state dict"):
        uninitialised(Positions)
