"""Regenerate tests/fixtures/synthesis_{v3,v4}.npz from upstream's synthesis functions in ../shared/reference.

tests/test_synthesis_stage.py then proves that gsv_trt.synthesis.SynthesisStage makes upstream's audio, both paths,
without ../shared. Per version, upstream's ``using_vocoder_synthesis`` (sequential, per segment) and
``using_vocoder_synthesis_batched_infer`` (batched + SOLA) run on:
- weights (none shipped; the test regenerates the same numbers): the SoVITS front end from ``seeded_state_dict``
  over tests/fixtures/sovits_manifest.json (seed 3 / 4, as make_sovits_fixtures.py), a reduced-width CFM
  (``SYN_DIT``: 2 blocks of width 64, but the real 512-wide condition) with ``spread_init`` weights, and the shipped
  reduced-width vocoders tests/fixtures/v3_small, v4_small;
- the first 3.2 s of the shipped LibriTTS clip as the reference, random prompt tokens and phones, and two segments
  of random tokens and phones;
- a case per chunking: "small" (T_ref 40, T_chunk 100: several chunks and SOLA seams on few frames) and, for v4,
  "real" (upstream's T_ref 500, T_chunk 1000 from TTS.init_vocoder, one segment long enough for two chunks;
  its audio stored as every STRIDE-th sample plus the length, to keep the file small).
Noise: ``torch.manual_seed(seed)`` before each function, so upstream's CFM draws its noise itself.

usage: python tools/make_synthesis_fixtures.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from gsv_trt.models.cfm import CFM, DiTConfig
from gsv_trt.models.cfm.init import spread_init
from gsv_trt.models.sovits.random_weights import seeded_state_dict

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SYN_DIT = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)
FRONTEND_SEEDS = {"v3": 3, "v4": 4}  # as tools/make_sovits_fixtures.py
CFM_SEED = 21
CLIP_SAMPLES = 76800  # 3.2 s at 24 kHz
STEPS = 8
STRIDE = 8
PROMPT_TOKENS, PROMPT_PHONES = 85, 30
# name: (T_ref, T_chunk or None for upstream's, segments as (tokens, phones), speed, seed)
CASES = {
    "v3": {"small": (40, 100, ((20, 12), (13, 7)), 1.0, 31)},
    "v4": {"small": (40, 100, ((20, 12), (13, 7)), 1.1, 41), "real": (None, None, ((180, 40),), 1.0, 42)},
}


def clip() -> torch.Tensor:
    wav, rate = sf.read(ROOT / "gsv_trt" / "data" / "libritts_24k.wav", dtype="float32")
    assert rate == 24000
    return torch.from_numpy(wav[:CLIP_SAMPLES])[None]  # [1, N] as torchaudio.load gives it


def reference_models(version: str):
    from gpt_sovits.cfm import CFM as RefCFM
    from gpt_sovits.f5_dit.dit import DiT as RefDiT
    from gpt_sovits.synthesizer_v3 import build_synthesizer

    manifest = json.loads((FIXTURES / "sovits_manifest.json").read_text())
    model = build_synthesizer(version)
    result = model.load_state_dict(seeded_state_dict(manifest, FRONTEND_SEEDS[version]), strict=False)
    assert not result.unexpected_keys and all(k.startswith("cfm.") for k in result.missing_keys)
    c = SYN_DIT
    dit = RefDiT(dim=c.dim, depth=c.depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult, mel_dim=c.mel_dim,
                 text_dim=c.text_dim, conv_layers=c.conv_layers)
    dit.load_state_dict(spread_init(CFM(SYN_DIT), CFM_SEED).estimator.state_dict(), strict=True)
    model.cfm = RefCFM(100, dit).eval()
    return model.eval(), reference_vocoder(version)


def reference_vocoder(version: str) -> torch.nn.Module:
    if version == "v3":
        from gpt_sovits.bigvgan.bigvgan import BigVGAN

        vocoder = BigVGAN.from_local_dir(str(FIXTURES / "v3_small"))
        vocoder.remove_weight_norm()
    else:
        from gpt_sovits.v4_vocoder import Generator

        channels = json.loads((FIXTURES / "v4_small" / "config.json").read_text())["upsample_initial_channel"]
        vocoder = Generator(upsample_initial_channel=channels)
        vocoder.remove_weight_norm()
        vocoder.load_state_dict(torch.load(FIXTURES / "v4_small" / "vocoder.pth", map_location="cpu"))
    return vocoder.eval()


def golden(version: str) -> dict[str, np.ndarray]:
    from gpt_sovits.synthesis import VOCODER_CONFIGS, get_ref_spec, synthesize_batch

    model, vocoder = reference_models(version)
    gen = torch.Generator().manual_seed(FRONTEND_SEEDS[version] * 100)
    out = {"prompt_codes": torch.randint(0, 1024, (PROMPT_TOKENS,), generator=gen).numpy(),
           "prompt_phones": torch.randint(0, 732, (PROMPT_PHONES,), generator=gen).numpy()}
    for case, (t_ref, t_chunk, segments, speed, seed) in CASES[version].items():
        configs = dict(VOCODER_CONFIGS[version])
        if t_ref is not None:
            configs.update(T_ref=t_ref, T_chunk=t_chunk)
        codes = [torch.randint(0, 1024, (n,), generator=gen) for n, _ in segments]
        phones = [torch.randint(0, 732, (n,), generator=gen) for _, n in segments]
        for parallel in (False, True):
            raw = clip()
            cache = {"prompt_semantic": torch.from_numpy(out["prompt_codes"]),
                     "phones": out["prompt_phones"].tolist(), "refer_spec": [get_ref_spec(raw, 24000)],
                     "raw_audio": raw, "raw_sr": 24000}
            torch.manual_seed(seed)
            audio = synthesize_batch(model, vocoder, configs, version, cache, codes, [len(c) for c in codes], phones,
                                     speed_factor=speed, sample_steps=STEPS, parallel_infer=parallel)
            path = "batched" if parallel else "sequential"
            for i, a in enumerate(audio):
                out[f"{case}/{path}/audio{i}"] = a.numpy() if t_ref is not None else a.numpy()[::STRIDE]
                out[f"{case}/{path}/length{i}"] = np.array(len(a))
        for i, (c, p) in enumerate(zip(codes, phones)):
            out[f"{case}/codes{i}"], out[f"{case}/phones{i}"] = c.numpy(), p.numpy()
        out[f"{case}/chunking"] = np.array([configs["T_ref"], configs["T_chunk"]])
        out[f"{case}/stride"] = np.array(1 if t_ref is not None else STRIDE)
        out[f"{case}/speed"], out[f"{case}/seed"] = np.array(speed), np.array(seed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    sys.path.insert(0, str(args.shared / "reference"))
    for version in CASES:
        np.savez_compressed(FIXTURES / f"synthesis_{version}.npz", **golden(version))
    print("synthesis fixtures written to", FIXTURES)


if __name__ == "__main__":
    main()
