"""Regenerate tests/fixtures from the upstream reference code in ../shared/reference (not shipped).

The project's tests then prove parity with upstream without ../shared:
- v3_small/: a reduced-width BigVGAN-v2 saved exactly as upstream saves it (config.json + bigvgan_generator.pt,
  {"generator": state_dict} with weight norm still applied), plus io.npz: inputs (real-speech mel, random mel, B=2)
  and the reference's fp32 outputs.
- v4_small/: a reduced-width v4 Generator saved as vocoder.pth (bare state dict, weight norm removed) + io.npz.
- manifest_v3.json / manifest_v4.json: key -> shape of the full-size upstream state dicts as the files hold them.

usage: python tools/make_fixtures.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
V3_SMALL = dict(
    resblock="1", upsample_rates=[4, 4, 2, 2, 2, 2], upsample_kernel_sizes=[8, 8, 4, 4, 4, 4],
    upsample_initial_channel=128, resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3,
    use_tanh_at_final=False, use_bias_at_final=False, activation="snakebeta", snake_logscale=True, num_mels=100,
    sampling_rate=24000, hop_size=256, n_fft=1024, win_size=1024, fmin=0, fmax=None,
)
V4_SMALL_CHANNELS = 64
SPEECH_FRAMES = 48


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights of trained-like scale (upstream's init is N(0, 0.01), too small to exercise the nonlinearity)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("alpha", "beta")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            elif name.endswith("weight_g"):
                p.mul_(1.0 + 0.2 * torch.rand(p.shape, generator=gen))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / fan_in) ** 0.5)


def mels(settings, frames: int) -> dict[str, np.ndarray]:
    from gsv_trt.models.mel import speech_mel

    gen = np.random.default_rng(7)
    rand = np.clip(gen.normal(-5.0, 2.5, size=(2, 100, 23)), -11.5, 2.0).astype(np.float32)
    return {"speech": speech_mel(settings, max_frames=frames), "random_b2": rand}


def run_reference(model: torch.nn.Module, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {f"{k}_wav": model(torch.from_numpy(v)).numpy() for k, v in inputs.items()}


def manifest(state: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in state.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    sys.path.insert(0, str(args.shared / "reference"))
    from gpt_sovits.bigvgan.bigvgan import BigVGAN
    from gpt_sovits.bigvgan.env import AttrDict
    from gpt_sovits.v4_vocoder import Generator

    from gsv_trt.models.vocoder import spec_for
    from gsv_trt.models.vocoder.config import V3_CONFIG

    torch.manual_seed(0)
    # v3, reduced width, saved as upstream does (weight norm applied)
    v3 = BigVGAN(AttrDict(V3_SMALL)).eval()
    randomise(v3, seed=3)
    out = FIXTURES / "v3_small"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(V3_SMALL, indent=1))
    torch.save({"generator": v3.state_dict()}, out / "bigvgan_generator.pt")
    v3.remove_weight_norm()
    inputs = mels(spec_for("v3").mel, SPEECH_FRAMES)
    np.savez(out / "io.npz", **inputs, **run_reference(v3, inputs))

    # v4, reduced width, saved as upstream's vocoder.pth (weight norm removed before saving)
    v4 = Generator(upsample_initial_channel=V4_SMALL_CHANNELS).eval()
    randomise(v4, seed=4)
    v4.remove_weight_norm()
    out = FIXTURES / "v4_small"
    out.mkdir(parents=True, exist_ok=True)
    torch.save(v4.state_dict(), out / "vocoder.pth")
    (out / "config.json").write_text(json.dumps({"upsample_initial_channel": V4_SMALL_CHANNELS}))
    inputs = mels(spec_for("v4").mel, SPEECH_FRAMES)
    np.savez(out / "io.npz", **inputs, **run_reference(v4, inputs))

    # full-size key/shape manifests, as the real files hold them
    full_v3 = BigVGAN(AttrDict({**V3_SMALL, "upsample_initial_channel": V3_CONFIG.upsample_initial_channel}))
    (FIXTURES / "manifest_v3.json").write_text(json.dumps(manifest(full_v3.state_dict()), indent=0))
    full_v4 = Generator()
    full_v4.remove_weight_norm()
    (FIXTURES / "manifest_v4.json").write_text(json.dumps(manifest(full_v4.state_dict()), indent=0))
    print("fixtures written to", FIXTURES)


if __name__ == "__main__":
    main()
