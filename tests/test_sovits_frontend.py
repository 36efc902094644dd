"""The SoVITS v3/v4 front end and reference preparation equal upstream's (golden files made by
tools/make_sovits_fixtures.py from ../shared/reference), load strictly from SoVITS files, and refuse bad input."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm.config import CFM_SHAPES
from gsv_trt.models.mel import denormalise_mel, normalise_mel, shipped_speech
from gsv_trt.models.sovits.frontend import FrontEndConfig, SovitsFrontEnd, feature_frames, valid_feature_frames
from gsv_trt.models.sovits.frontend_loader import build_frontend, load_frontend, random_frontend
from gsv_trt.models.sovits.random_weights import seeded_state_dict
from gsv_trt.models.sovits.reference_audio import (ReferenceAudio, align_prompt, load_reference, prepare_reference,
                                                   read_reference)
from gsv_trt.models.sovits.sinc_resample import resample
from gsv_trt.models.sovits.validate import reference_seconds_ok

from sovits_files import s2_config, small_cfm, write_sovits

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = {"v3": 3, "v4": 4}  # as tools/make_sovits_fixtures.py
CLIP_SAMPLES = 76800
TOL = 1e-5
SPEC_ATOL = 3e-5  # FFT rounding is relative to a frame's loudest bin and differs between CPUs (seen: 1.1e-5)
SMALL = FrontEndConfig(ssl_dim=32, hidden_channels=16, filter_channels=32, style_hidden=16, gin_channels=16,
                       fea_channels=16)  # every size but the input formats reduced: fast tests of lengths and loading


@lru_cache(maxsize=None)
def manifest() -> dict[str, list[int]]:
    return json.loads((FIXTURES / "sovits_manifest.json").read_text())


@lru_cache(maxsize=None)
def golden(name: str) -> dict[str, np.ndarray]:
    return dict(np.load(FIXTURES / f"{name}.npz"))


@lru_cache(maxsize=None)
def golden_frontend(version: str) -> SovitsFrontEnd:
    """The front end holding the golden weights, loaded through the checkpoint path (file names, weight norm)."""
    return build_frontend(version, seeded_state_dict(manifest(), SEEDS[version]), "sovits_manifest.json")


def max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    assert tuple(a.shape) == b.shape
    return float(np.abs(a.numpy() - b).max())


def assert_mel_close(mel: torch.Tensor, golden_mel: np.ndarray) -> None:
    """The reference mel (the CFM's scale) against upstream's: 1e-5 where the bin carries sound; near the log's
    1e-5 floor the log magnifies the FFT's last-bit rounding, which differs between CPUs (seen: 1.4e-4 in v4's top
    bin at ln mel -11.3 on an AMD EPYC, 0 on the machine that made the fixtures), so there 5e-4. A wrong hop,
    window, resampler or scaling moves the loud bins by far more."""
    mel = mel.numpy()
    assert mel.shape == golden_mel.shape
    diff = np.abs(mel - golden_mel)
    loud = denormalise_mel(torch.from_numpy(golden_mel)).numpy() > -7.0  # ln mel; the floor is ln 1e-5 = -11.5
    assert loud.mean() > 0.5 and diff[loud].max() <= TOL
    assert diff.max() <= 5e-4


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    """The first 3.2 s of the shipped LibriTTS clip, 16-bit as shipped (the golden files were made from it)."""
    samples, rate = sf.read(shipped_speech(), dtype="int16")
    path = tmp_path_factory.mktemp("ref") / "ref_3s2.wav"
    sf.write(path, samples[:CLIP_SAMPLES], rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_prompt_and_targets_equal_upstream(version, clip_path):
    g, frontend = golden(f"sovits_{version}"), golden_frontend(version)
    ref = load_reference(clip_path, version)
    np.testing.assert_allclose(ref.refer_spec[:, :, ::5].numpy(), g["refer_spec_strided"], rtol=1e-5, atol=SPEC_ATOL)

    # the prompt, as the synthesis stage prepares it: decode_encp, then cut features and mel to T_min / T_ref
    fea_ref, ge = frontend.decode_encp(torch.from_numpy(g["prompt_codes"]), torch.from_numpy(g["prompt_phones"]),
                                       ref.refer_spec)
    fea_ref, mel2 = align_prompt(fea_ref, ref.mel, t_ref=CFM_SHAPES[version][0])
    assert max_diff(ge, g["ge"]) <= TOL
    assert max_diff(fea_ref, g["fea_ref"]) <= TOL
    assert_mel_close(mel2, g["mel2"])

    # targets reuse the prompt's style vector; speed resamples the content frames
    for speed in (1.0, 1.25):
        fea, _ = frontend.decode_encp(torch.from_numpy(g["target_codes"]), torch.from_numpy(g["target_phones"]),
                                      None, ge=ge, speed=speed)
        assert max_diff(fea, g[f"fea_speed_{speed}"]) <= TOL, speed


@pytest.mark.parametrize("case", ["stereo_44k", "mono_32k_loud"])
def test_reference_preparation_branches_equal_upstream(case):
    # stereo is averaged; a mono 32 kHz float clip peaking above 1 is divided in place upstream, prompt mel included
    g = golden("sovits_reference_prep")
    ref = ReferenceAudio(torch.from_numpy(g[f"{case}_samples"]), int(g[f"{case}_rate"]), case)
    for version in ("v3", "v4"):
        prepared = prepare_reference(ref, version)
        np.testing.assert_allclose(prepared.refer_spec.numpy(), g[f"{case}_spec"], rtol=1e-5, atol=SPEC_ATOL)
        assert_mel_close(prepared.mel, g[f"{case}_mel2_{version}"])


def test_cfm_mel_scale_maps_upstreams_range_to_plus_minus_one_and_back():
    mel = torch.tensor([-12.0, -5.0, 2.0])
    assert torch.allclose(normalise_mel(mel), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.allclose(denormalise_mel(normalise_mel(mel)), mel)


def test_resampling_equals_torchaudio():
    g = golden("sovits_resample")
    signal = torch.from_numpy(g["signal"])
    pairs = [k for k in g if k != "signal"]
    assert len(pairs) >= 5
    for pair in pairs:
        orig, new = map(int, pair.split("_"))
        assert max_diff(resample(signal, orig, new), g[pair]) <= 1e-6, pair


def test_align_prompt_keeps_the_last_t_ref_frames_of_the_common_length():
    fea, mel = torch.randn(1, 512, 600), torch.randn(1, 100, 550)
    cut_fea, cut_mel = align_prompt(fea, mel, t_ref=468)
    assert cut_fea.shape[2] == cut_mel.shape[2] == 468
    assert torch.equal(cut_fea, fea[:, :, 550 - 468:550]) and torch.equal(cut_mel, mel[:, :, -468:])
    short_fea, short_mel = align_prompt(fea[:, :, :300], mel, t_ref=468)
    assert short_fea.shape[2] == short_mel.shape[2] == 300 and torch.equal(short_mel, mel[:, :, :300])


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_feature_frames_predict_the_output_and_its_masked_tail(version):
    frontend = random_frontend(version, config=SMALL).model
    gen = torch.Generator().manual_seed(1)
    phones, spec = torch.randint(0, 732, (1, 9), generator=gen), torch.rand(1, 1025, 50, generator=gen)
    per_token = 3.75 if version == "v3" else 4
    assert feature_frames(40, version) == math.floor(40 * per_token)
    for n_tokens in (1, 2, 7, 20):
        codes = torch.randint(0, 1024, (1, 1, n_tokens), generator=gen)
        for speed in (0.5, 1.0, 1.25, 2.0):
            fea, _ = frontend.decode_encp(codes, phones, spec, speed=speed)
            valid = valid_feature_frames(n_tokens, version, speed)
            assert fea.shape == (1, SMALL.fea_channels, feature_frames(n_tokens, version, speed)), (n_tokens, speed)
            assert fea[:, :, valid:].abs().sum() == 0 and fea[:, :, valid - 1].abs().max() > 0
    # upstream's wns1 mask drops the last frame of v4 at speed 1.25 (20 tokens: 66 frames, 65 kept)
    assert (version, feature_frames(20, version, 1.25), valid_feature_frames(20, version, 1.25)) in (
        ("v3", 61, 61), ("v4", 66, 65))


def test_random_front_end_says_random_and_its_output_follows_every_input():
    loaded = random_frontend("v4")
    assert loaded.is_random and "RANDOM" in loaded.provenance
    gen = torch.Generator().manual_seed(0)
    codes, phones = torch.randint(0, 1024, (1, 1, 12), generator=gen), torch.randint(0, 732, (1, 9), generator=gen)
    spec = torch.rand(1, 1025, 160, generator=gen) * 4
    base, ge = loaded.model.decode_encp(codes, phones, spec)
    assert base.abs().mean() > 0.1

    def differs(fea: torch.Tensor) -> bool:
        return fea.shape != base.shape or float((fea - base).abs().max()) > 1e-3

    other_codes, other_phones = codes.clone(), phones.clone()
    other_codes[0, 0, 5] = (codes[0, 0, 5] + 1) % 1024
    other_phones[0, 3] = (phones[0, 3] + 1) % 732
    assert differs(loaded.model.decode_encp(other_codes, phones, spec)[0])
    assert differs(loaded.model.decode_encp(codes, other_phones, spec)[0])
    assert differs(loaded.model.decode_encp(codes, phones, spec.flip(2))[0])
    assert differs(loaded.model.decode_encp(codes, phones, None, ge=ge, speed=0.9)[0])


def test_seeded_weights_depend_only_on_name_shape_and_seed():
    a = seeded_state_dict({"x.weight": (4, 3, 5), "y.bias": (4,)}, seed=1)
    b = seeded_state_dict({"x.weight": (4, 3, 5)}, seed=1)
    c = seeded_state_dict({"x.weight": (4, 3, 5)}, seed=2)
    assert torch.equal(a["x.weight"], b["x.weight"]) and not torch.equal(a["x.weight"], c["x.weight"])
    assert a["x.weight"].abs().max() <= math.sqrt(3 / 15) and a["x.weight"].std() > 0.1


def checkpoint_like(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` as a SoVITS file holds it: wns1's convs with weight norm (weight_g = per-channel norm, weight_v)."""
    out = {}
    for key, value in state.items():
        if key.startswith("wns1.enc.") and key.endswith(".weight"):
            out[key + "_g"] = value.norm(dim=(1, 2), keepdim=True)
            out[key + "_v"] = value
        else:
            out[key] = value
    return out


def small_weights(seed: int) -> dict[str, torch.Tensor]:
    shapes = {k: tuple(v.shape) for k, v in SovitsFrontEnd("v4", SMALL).state_dict().items()}
    return checkpoint_like(seeded_state_dict(shapes, seed))


def test_loading_is_strict_for_front_end_tensors_and_ignores_the_rest():
    # a real checkpoint's non-CFM tensors include ones inference never runs (the golden test loads all of them)
    assert {"ssl_proj.weight", "linear_mel.weight", "enc_p.proj.weight",
            "quantizer.vq.layers.0._codebook.embed_avg"} <= set(manifest())
    weights = small_weights(0)
    ignored = {"cfm.estimator.proj_out.weight": torch.zeros(100, 1024), "ssl_proj.weight": torch.ones(768, 768, 2),
               "linear_mel.weight": torch.ones(100, 512, 1), "enc_p.proj.weight": torch.ones(384, 192, 1),
               "quantizer.vq.layers.0._codebook.cluster_size": torch.ones(1024), "enc_q.pre.weight": torch.ones(1)}
    model = build_frontend("v4", {**weights, **ignored}, "s2G.pth", SMALL)
    w = weights["wns1.enc.in_layers.3.weight_v"]
    assert torch.allclose(model.wns1.enc.in_layers[3].weight, w, atol=1e-6)  # weight norm folded
    missing = {k: v for k, v in weights.items() if k != "wns1.proj.bias"}
    with pytest.raises(GsvTrtError, match=r"s2G.pth: keys do not match .* 1 missing \(first: wns1.proj.bias\)"):
        build_frontend("v4", missing, "s2G.pth", SMALL)
    with pytest.raises(GsvTrtError, match=r"unexpected \(first: enc_p.mrte.extra.weight\)"):
        build_frontend("v4", {**weights, "enc_p.mrte.extra.weight": torch.ones(2)}, "s2G.pth", SMALL)
    with pytest.raises(GsvTrtError, match=r"enc_p.text_embedding.weight has shape \[322, 16\]"):
        build_frontend("v4", {**weights, "enc_p.text_embedding.weight": torch.ones(322, 16)}, "s2G.pth", SMALL)
    with pytest.raises(GsvTrtError, match="weight-norm pair incomplete"):
        build_frontend("v4", {k: v for k, v in weights.items() if k != "wns1.enc.in_layers.3.weight_v"}, "s2G.pth",
                       SMALL)


def test_loads_from_sovits_files_and_a_lora_replaces_its_front_end_tensors(tmp_path):
    weights = small_weights(7)
    cfm = {"cfm." + k: v for k, v in small_cfm(0).state_dict().items()}
    base = write_sovits(tmp_path / "s2Gv4.pth", {**weights, **cfm}, s2_config("v4"))
    loaded = load_frontend("v4", base, config=SMALL)
    assert not loaded.is_random and "s2Gv4.pth" in loaded.provenance
    expected = build_frontend("v4", {k: v.half() for k, v in weights.items()}, "fp16", SMALL)  # files hold fp16
    for key, tensor in expected.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], tensor), key

    lora_a = {"cfm.base_model.model.estimator.transformer_blocks.0.attn.to_q.lora_A.default.weight": torch.zeros(4, 64),
              "cfm.base_model.model.estimator.transformer_blocks.0.attn.to_q.lora_B.default.weight": torch.zeros(64, 4)}
    tuned_bias = torch.full((SMALL.gin_channels,), 0.25)
    lora = write_sovits(tmp_path / "tuned.pth", {**lora_a, "ref_enc.fc.fc.bias": tuned_bias}, s2_config("v4"),
                        head=b"04", lora_rank=4)
    tuned = load_frontend("v4", lora, lora_base=base, config=SMALL)
    assert torch.equal(tuned.model.ref_enc.fc.fc.bias, tuned_bias)
    assert torch.equal(tuned.model.wns1.proj.weight, loaded.model.wns1.proj.weight)
    assert "tuned.pth" in tuned.provenance and "s2Gv4.pth" in tuned.provenance


def test_bad_tokens_phones_speed_and_spectrogram_are_one_line_errors():
    frontend = golden_frontend("v3")
    codes, phones = torch.zeros(1, 1, 5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)
    spec = torch.rand(1, 1025, 40)
    cases = [
        (dict(codes=torch.tensor([[[1, 2, 1024]]])), r"codes: id 1024 at index \[0, 0, 2\] is outside the codebook "
                                                     r"of 1024 entries \(0..1023\)"),
        (dict(codes=torch.tensor([[[-1]]])), r"codes: id -1 at index \[0, 0, 0\]"),
        (dict(codes=codes.float()), r"codes: expected an integer tensor \[n_q, B, T\], got torch.float32"),
        (dict(codes=codes[0]), r"codes: expected shape \[n_q, B, T\], got \[1, 5\]"),
        (dict(codes=codes[:, :, :0]), r"codes: empty"),
        (dict(phones=torch.tensor([[3, 732]])), r"phones: id 732 at index \[0, 1\] is outside the symbol table of "
                                                r"732 phones \(0..731\)"),
        (dict(speed=0), r"speed: expected a finite number > 0, got 0"),
        (dict(speed=-1.5), r"speed: .* got -1.5"),
        (dict(speed=float("nan")), r"speed: .* got nan"),
        (dict(refer_spec=torch.rand(1, 704, 40)),
         r"refer_spec: expected shape \[B, 1025, T >= 1\], got \[1, 704, 40\]"),
        (dict(refer_spec=None), r"refer_spec: needed when no style vector ge is given"),
    ]
    for override, message in cases:
        args = {"codes": codes, "phones": phones, "refer_spec": spec, **override}
        with pytest.raises(GsvTrtError, match=message) as err:
            frontend.decode_encp(**args)
        assert "\n" not in str(err.value)


def test_reference_length_limits_are_upstreams():
    # upstream loads at 16 kHz and refuses fewer than 48000 or more than 160000 samples
    assert reference_seconds_ok(48000, 16000) and not reference_seconds_ok(47999, 16000)
    assert reference_seconds_ok(160000, 16000) and not reference_seconds_ok(160001, 16000)
    assert reference_seconds_ok(72000, 24000) and not reference_seconds_ok(71998, 24000)  # ceil(47998.7) = 47999


def test_bad_reference_files_are_one_line_errors(tmp_path, clip_path):
    assert read_reference(clip_path).seconds == pytest.approx(3.2)
    sf.write(tmp_path / "short.wav", np.zeros(int(2.9 * 16000), np.int16), 16000)
    sf.write(tmp_path / "long.wav", np.zeros(10 * 44100 + 500, np.int16), 44100)
    sf.write(tmp_path / "surround.wav", np.zeros((4 * 16000, 6), np.int16), 16000)
    sf.write(tmp_path / "nan.wav", np.full(4 * 16000, np.nan, np.float32), 16000, subtype="FLOAT")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really")
    cases = [("short.wav", r"short.wav: reference audio lasts 2.90 s; GPT-SoVITS needs 3 to 10 s"),
             ("long.wav", r"long.wav: reference audio lasts 10.01 s"),
             ("surround.wav", r"surround.wav: has 6 channels; a reference must be mono or stereo"),
             ("nan.wav", r"nan.wav: contains NaN or Inf"),
             ("junk.wav", r"junk.wav: not a readable audio file"),
             ("missing.wav", r"missing.wav: no such audio file")]
    for name, message in cases:
        with pytest.raises(GsvTrtError, match=message) as err:
            load_reference(tmp_path / name, "v4")
        assert "\n" not in str(err.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("version", ["v3", "v4"])
def test_front_end_on_cuda_equals_the_golden_output(version):
    g = golden(f"sovits_{version}")
    frontend = golden_frontend(version).cuda()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, False  # as upstream sets
        fea, _ = frontend.decode_encp(torch.from_numpy(g["target_codes"]).cuda(),
                                      torch.from_numpy(g["target_phones"]).cuda(), None,
                                      ge=torch.from_numpy(g["ge"]).cuda(), speed=1.25)
        assert max_diff(fea.cpu(), g["fea_speed_1.25"]) <= 1e-4
    finally:
        frontend.cpu()
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
