"""The synthesis stage makes upstream's audio: both paths, v3 and v4, CPU fp32, same seed (golden files made by
tools/make_synthesis_fixtures.py with upstream's synthesis functions), and its pieces behave as upstream's do."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import CFM, DiTConfig
from gsv_trt.models.cfm.init import spread_init
from gsv_trt.models.cfm.loader import LoadedCFM
from gsv_trt.models.mel import shipped_speech
from gsv_trt.models.sovits.frontend import SovitsFrontEnd
from gsv_trt.models.sovits.frontend_loader import build_frontend
from gsv_trt.models.sovits.random_weights import seeded_state_dict
from gsv_trt.models.sovits.reference_audio import load_reference
from gsv_trt.models.vocoder import load_vocoder, spec_for
from gsv_trt.models.strict_load import load_strict
from gsv_trt.models.vocoder.checkpoint import fold_weight_norm, read_checkpoint, unwrap_state_dict
from gsv_trt.models.vocoder.config import GeneratorConfig
from gsv_trt.models.vocoder.generator import Generator
from gsv_trt.models.vocoder.loader import LoadedVocoder
from gsv_trt.models.mel import denormalise_mel
from gsv_trt.synthesis import (VOCODER_REACH, Chunking, Segment, StreamPlan, SynthesisStage, cfm_runner,
                               vocoder_runner)
from gsv_trt.synthesis.chunking import batched_chunks
from gsv_trt.synthesis.sola import sola_crossfade

FIXTURES = Path(__file__).parent / "fixtures"
SYN_DIT = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)  # as the tool
FRONTEND_SEEDS, CFM_SEED, STEPS = {"v3": 3, "v4": 4}, 21, 8
CLIP_SAMPLES = 76800
TOL = 1e-4


def small_vocoder(version: str) -> LoadedVocoder:
    """The shipped reduced-width vocoders (tests/fixtures/v3_small, v4_small)."""
    if version == "v3":
        return load_vocoder("v3", FIXTURES / "v3_small")
    width = json.loads((FIXTURES / "v4_small" / "config.json").read_text())["upsample_initial_channel"]
    cfg = GeneratorConfig(upsample_initial_channel=width)
    model = Generator(cfg).eval()
    path = FIXTURES / "v4_small" / "vocoder.pth"
    load_strict(model, fold_weight_norm(unwrap_state_dict(read_checkpoint(path), path, "v4")), path, "v4")
    return LoadedVocoder(model, spec_for("v4"), str(path), "fixture", cfg.to_dict())


@lru_cache(maxsize=None)
def golden_parts(version: str) -> tuple[SovitsFrontEnd, LoadedCFM, LoadedVocoder]:
    """The golden weights: front end and CFM regenerated from their seeds, the shipped vocoder."""
    manifest = json.loads((FIXTURES / "sovits_manifest.json").read_text())
    frontend = build_frontend(version, seeded_state_dict(manifest, FRONTEND_SEEDS[version]), "sovits_manifest.json")
    cfm = LoadedCFM(spread_init(CFM(SYN_DIT), CFM_SEED).eval(), version, "random", "-", True)
    return frontend, cfm, small_vocoder(version)


@lru_cache(maxsize=None)
def golden_stage(version: str) -> SynthesisStage:
    frontend, cfm, vocoder = golden_parts(version)
    cpu = torch.device("cpu")
    return SynthesisStage(version, frontend, cfm_runner(cfm, "eager", "fp32", cpu),
                          vocoder_runner(vocoder, "eager", "fp32", cpu))


@lru_cache(maxsize=None)
def golden(version: str) -> dict[str, np.ndarray]:
    return dict(np.load(FIXTURES / f"synthesis_{version}.npz"))


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    """The first 3.2 s of the shipped LibriTTS clip (the golden files were made from it)."""
    samples, rate = sf.read(shipped_speech(), dtype="int16")
    path = tmp_path_factory.mktemp("ref") / "ref_3s2.wav"
    sf.write(path, samples[:CLIP_SAMPLES], rate, subtype="PCM_16")
    return path


@lru_cache(maxsize=None)
def _stage_and_prompt(version: str, case: str, clip: Path):
    g, base = golden(version), golden_stage(version)
    t_ref, t_chunk = (int(v) for v in g[f"{case}/chunking"])
    stage = SynthesisStage(version, base.frontend, base.cfm, base.vocoder,
                           chunking=Chunking(t_ref, t_chunk, spec_for(version).hop))
    prompt = stage.prompt(load_reference(clip, version), torch.from_numpy(g["prompt_codes"]),
                          torch.from_numpy(g["prompt_phones"]))
    return stage, prompt


def segments(g: dict[str, np.ndarray], case: str) -> list[Segment]:
    n = sum(1 for k in g if k.startswith(f"{case}/codes"))
    return [Segment(torch.from_numpy(g[f"{case}/codes{i}"]), torch.from_numpy(g[f"{case}/phones{i}"]))
            for i in range(n)]


@pytest.mark.parametrize("version, case", [("v3", "small"), ("v4", "small"),
                                           pytest.param("v4", "real", marks=pytest.mark.slow)])
@pytest.mark.parametrize("path", ["sequential", "batched"])
def test_stage_equals_upstream(version, case, path, clip_path):
    g = golden(version)
    stage, prompt = _stage_and_prompt(version, case, clip_path)
    if case == "real":
        assert stage.chunking == Chunking.for_version(version)  # upstream's own chunking is the default
    generator = torch.Generator().manual_seed(int(g[f"{case}/seed"]))
    audio = stage.synthesize(prompt, segments(g, case), path, STEPS, float(g[f"{case}/speed"]), generator)
    stride = int(g[f"{case}/stride"])
    for i, a in enumerate(audio):
        assert len(a) == int(g[f"{case}/{path}/length{i}"])
        expected = g[f"{case}/{path}/audio{i}"]
        assert np.abs(a.numpy()[::stride] - expected).max() <= TOL
        assert np.abs(expected).max() > 0.01  # the audio is not near silence: the comparison means something


def test_batched_chunks_cut_as_upstream():
    feats = torch.arange(1, 41, dtype=torch.float32).view(1, 1, 40)
    chunks, padding = batched_chunks(feats, chunk_len=16, overlap=4)
    # left pad 4 zeros, chunks every 12 frames while the start is inside the 44 padded frames, the last zero-padded
    assert chunks.shape == (4, 1, 16) and padding == 8
    assert chunks[0, 0, :4].eq(0).all() and chunks[0, 0, 4] == 1
    assert torch.equal(chunks[1, 0, :4], chunks[0, 0, -4:])  # neighbours share `overlap` frames
    assert chunks[3, 0, -padding:].eq(0).all() and chunks[3, 0, -padding - 1] == 40


def test_sola_keeps_length_minus_overlaps_and_shifts_and_crossfades_smoothly():
    # one sine cut into fragments that overlap by 200 samples, the second one delayed by 7 samples
    t = torch.arange(4000, dtype=torch.float32)
    wave = torch.sin(t * 0.05)
    a, b = wave[:1200], torch.cat([torch.zeros(7), wave[1000:2193]])
    out = sola_crossfade(torch.stack([a, b]), overlap=200, search=32)
    assert len(out) == 2 * 1200 - 200 - 7  # the shift found is the 7-sample delay
    assert torch.allclose(out, wave[: len(out)], atol=1e-5)


def test_sola_refuses_fragments_shorter_than_its_windows():
    with pytest.raises(GsvTrtError, match="SOLA"):
        sola_crossfade(torch.zeros(2, 100), overlap=40, search=32)


def test_chunking_defaults_are_upstreams_and_too_long_prompts_are_refused():
    assert Chunking.for_version("v3") == Chunking(468, 934, 256, 12)
    assert Chunking.for_version("v4") == Chunking(500, 1000, 480, 12)
    with pytest.raises(GsvTrtError, match="T_chunk"):
        Chunking(40, 50, 480).chunk_len(40)


def streamed_and_whole(version: str, clip: Path, plan: StreamPlan, seed: int = 5):
    """One segment streamed, and the same mel (same chunks, same noise) vocoded in one call."""
    stage, prompt = _stage_and_prompt(version, "small", clip)
    segment = segments(golden(version), "small")[0]
    fea = stage.features(prompt, segment, 1.0)
    mels = list(stage.stream_mels(prompt, fea, STEPS, torch.Generator().manual_seed(seed), plan))
    whole = stage.vocoder(denormalise_mel(torch.cat(mels, 2)))[0, 0]
    pieces = list(stage.stream(prompt, [segment], STEPS, 1.0, torch.Generator().manual_seed(seed), plan))
    return pieces, whole, [m.shape[2] for m in mels], stage.chunking.hop


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_stream_equals_one_vocoder_call_over_its_mel(version, clip_path):
    # the default context and hold-back are the vocoder's reach: the seams do not show, up to rounding
    pieces, whole, chunks, _ = streamed_and_whole(version, clip_path, StreamPlan(first=VOCODER_REACH[version] + 8,
                                                                                  later=30))
    assert len(chunks) > 2 and len(pieces) > 2
    streamed = torch.cat(pieces)
    assert streamed.shape == whole.shape
    assert float((streamed - whole).abs().max()) <= 1e-5


def test_short_context_changes_the_stream_only_near_its_seams(clip_path):
    reach, cut = VOCODER_REACH["v4"], 3
    pieces, whole, chunks, hop = streamed_and_whole("v4", clip_path, StreamPlan(first=16, later=30, context=cut,
                                                                                 holdback=cut))
    diff = (torch.cat(pieces) - whole).abs()
    seams = np.cumsum(chunks)[:-1] - cut  # where each piece of audio ends
    frame = np.arange(len(diff)) // hop
    near = np.zeros(len(diff), bool)
    for seam in seams:
        near |= np.abs(frame - seam) <= reach
    assert float(diff[torch.from_numpy(~near)].max()) <= 1e-5  # away from the seams: the whole-mel audio
    at_seams = float(diff[torch.from_numpy(near)].max())
    assert 1e-4 < at_seams <= 0.5 * float(whole.abs().max())  # visible at the seams, and bounded


def test_stream_in_sequential_chunks_is_upstreams_sequential_path(clip_path):
    # first = later = T_chunk - T_min: the stream's CFM calls are the sequential path's, noise included
    g = golden("v4")
    stage, prompt = _stage_and_prompt("v4", "small", clip_path)
    chunk_len = stage.chunking.chunk_len(prompt.frames)
    plan = StreamPlan(first=chunk_len, later=chunk_len)
    generator = torch.Generator().manual_seed(int(g["small/seed"]))
    pieces = stage.stream(prompt, segments(g, "small"), STEPS, float(g["small/speed"]), generator, plan)
    expected = np.concatenate([g["small/sequential/audio0"], g["small/sequential/audio1"]])
    assert np.abs(torch.cat(list(pieces)).numpy() - expected).max() <= TOL


def test_warm_up_runs_a_made_up_request_and_leaves_the_global_rng_alone():
    """A server warms its stage before its first request: the warm-up draws its noise from a private generator, so a
    request seeded after it (upstream's set_seed) gets the same audio as without it."""
    stage = golden_stage("v4")
    rng = torch.get_rng_state()
    assert stage.warm_up(steps=2, seconds=1.0) > 0
    assert torch.equal(torch.get_rng_state(), rng)
