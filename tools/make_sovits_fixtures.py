"""Regenerate tests/fixtures/sovits_* from the upstream reference code in ../shared/reference (not shipped).

tests/test_sovits_frontend.py then proves the SoVITS front end and the reference preparation equal upstream's
without ../shared:
- sovits_manifest.json: name -> shape of every non-CFM tensor of upstream's SynthesizerTrnV3, as a checkpoint holds
  them (weight norm as weight_g/weight_v). The weights themselves are not shipped: gsv_trt's ``seeded_state_dict``
  regenerates them from these names and a seed, and this script loads those same numbers into upstream's model.
- sovits_v3.npz / sovits_v4.npz (seeds 3 / 4): upstream's ``_prompt_inputs`` on the first 3.2 s of the shipped
  LibriTTS clip with random prompt tokens and phones (``fea_ref``, ``mel2``, ``ge``; ``refer_spec`` every 5th
  frame), and ``decode_encp`` of random target tokens/phones with that ``ge`` at speed 1 and 1.25.
- sovits_reference_prep.npz: upstream's ``get_ref_spec`` and prompt mel for two short synthetic clips that take the
  other branches: stereo at 44.1 kHz, and mono float at 32 kHz with a peak above 1.
- sovits_resample.npz: torchaudio's Resample (reference copy) between several rate pairs on a random signal.

usage: python tools/make_sovits_fixtures.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CLIP_SAMPLES = 76800  # 3.2 s at 24 kHz: just above upstream's 3 s minimum, keeps the fixture small
SPEC_FRAME_STEP = 5
SEEDS = {"v3": 3, "v4": 4}
PROMPT_TOKENS, PROMPT_PHONES, TARGET_TOKENS, TARGET_PHONES = 85, 30, 20, 12
SPEEDS = (1.0, 1.25)
RESAMPLE_PAIRS = ((24000, 32000), (44100, 32000), (48000, 24000), (16000, 32000), (22050, 24000), (32000, 24000))


class _FeaturesOnly:
    """Stands in for the SoVITS model where only the reference mel of ``_prompt_inputs`` is wanted: features
    longer than any mel, so nothing is cut."""

    def decode_encp(self, codes, text, refer, ge=None, speed=1):
        return torch.zeros(1, 512, 1 << 20), None


def clip() -> torch.Tensor:
    wav, rate = sf.read(ROOT / "gsv_trt" / "data" / "libritts_24k.wav", dtype="float32")
    assert rate == 24000
    return torch.from_numpy(wav[:CLIP_SAMPLES])[None]  # [1, N] as torchaudio.load gives it


def golden_version(version: str, manifest: dict[str, list[int]]) -> dict[str, np.ndarray]:
    from gpt_sovits.synthesis import VOCODER_CONFIGS, _prompt_inputs, get_ref_spec
    from gpt_sovits.synthesizer_v3 import build_synthesizer

    from gsv_trt.models.sovits.random_weights import seeded_state_dict

    model = build_synthesizer(version)
    result = model.load_state_dict(seeded_state_dict(manifest, SEEDS[version]), strict=False)
    assert not result.unexpected_keys and all(k.startswith("cfm.") for k in result.missing_keys)
    gen = torch.Generator().manual_seed(SEEDS[version])
    io = {
        "prompt_codes": torch.randint(0, 1024, (1, 1, PROMPT_TOKENS), generator=gen),
        "prompt_phones": torch.randint(0, 732, (1, PROMPT_PHONES), generator=gen),
        "target_codes": torch.randint(0, 1024, (1, 1, TARGET_TOKENS), generator=gen),
        "target_phones": torch.randint(0, 732, (1, TARGET_PHONES), generator=gen),
    }
    raw = clip()
    cache = {"prompt_semantic": io["prompt_codes"][0, 0], "phones": io["prompt_phones"][0].tolist(),
             "refer_spec": [get_ref_spec(raw, 24000)], "raw_audio": raw, "raw_sr": 24000}
    spec, fea_ref, ge, mel2, _, _ = _prompt_inputs(model, cache, version, VOCODER_CONFIGS[version], "cpu",
                                                   torch.float32)
    io.update(refer_spec_strided=spec[:, :, ::SPEC_FRAME_STEP], ge=ge, fea_ref=fea_ref, mel2=mel2)
    for speed in SPEEDS:
        with torch.no_grad():
            fea, _ = model.decode_encp(io["target_codes"], io["target_phones"], spec, ge, speed)
        io[f"fea_speed_{speed}"] = fea
    return {k: v.numpy() for k, v in io.items()}


def golden_reference_prep() -> dict[str, np.ndarray]:
    from gpt_sovits.synthesis import VOCODER_CONFIGS, _prompt_inputs, get_ref_spec

    gen = torch.Generator().manual_seed(5)
    cases = {
        "stereo_44k": (torch.stack([clip()[0, :13230], clip()[0, 20000:33230]]), 44100),  # 0.3 s
        "mono_32k_loud": (clip()[:, :9600] * 3 + 0.01 * torch.randn(1, 9600, generator=gen), 32000),
    }
    out = {}
    for name, (raw, rate) in cases.items():
        out[f"{name}_samples"] = raw.numpy().copy()
        out[f"{name}_rate"] = np.array(rate)
        for version in ("v3", "v4"):
            raw_v = raw.clone()  # get_ref_spec may divide it in place, as upstream's does
            cache = {"prompt_semantic": torch.zeros(1, dtype=torch.long), "phones": [0],
                     "refer_spec": [get_ref_spec(raw_v, rate)], "raw_audio": raw_v, "raw_sr": rate}
            configs = {**VOCODER_CONFIGS[version], "T_ref": 1 << 20}
            spec, _, _, mel2, _, _ = _prompt_inputs(_FeaturesOnly(), cache, version, configs, "cpu", torch.float32)
            out[f"{name}_spec"] = spec.numpy()
            out[f"{name}_mel2_{version}"] = mel2.numpy()
    return out


def golden_resample() -> dict[str, np.ndarray]:
    from gpt_sovits.resample import Resample

    signal = torch.from_numpy(np.random.default_rng(6).uniform(-1, 1, (2, 1001)).astype(np.float32))
    out = {"signal": signal.numpy()}
    for orig, new in RESAMPLE_PAIRS:
        out[f"{orig}_{new}"] = Resample(orig, new)(signal).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    sys.path.insert(0, str(args.shared / "reference"))
    from gpt_sovits.synthesizer_v3 import build_synthesizer

    torch.manual_seed(0)
    full = build_synthesizer("v3").state_dict()
    manifest = {k: list(v.shape) for k, v in full.items() if not k.startswith("cfm.")}
    del full
    (FIXTURES / "sovits_manifest.json").write_text(json.dumps(manifest, indent=0) + "\n")
    for version in ("v3", "v4"):
        np.savez(FIXTURES / f"sovits_{version}.npz", **golden_version(version, manifest))
    np.savez(FIXTURES / "sovits_reference_prep.npz", **golden_reference_prep())
    np.savez(FIXTURES / "sovits_resample.npz", **golden_resample())
    print("fixtures written to", FIXTURES)


if __name__ == "__main__":
    main()
