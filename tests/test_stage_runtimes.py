"""The stage on its other runtimes and from other sources: ONNX-Runtime files made on demand from the loaded weights
(equal to eager fp32), TensorRT refused in one line where it cannot run, runners safe to share between threads, and
a stage built from the state dicts GPT-SoVITS holds in memory equal to the stage opened from the same file.

A reduced-width CFM (SYN_DIT) and vocoders (tests/fixtures/v4_small, v3_small) keep exports and checks to about a
minute; the front end is full size (its width is fixed by the CFM's 512-wide input)."""

from __future__ import annotations

import json
import shutil
import threading
from functools import lru_cache
from pathlib import Path

import pytest
import soundfile as sf
import torch

from cfm_graphs import small_cfm, small_pair
from sovits_files import s2_config, write_sovits
from gsv_trt.build.engines import cfm_engines
from gsv_trt.build.flavour import installed
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import CFM, DiTConfig, load_cfm
from gsv_trt.models.cfm.init import spread_init
from gsv_trt.models.mel import shipped_speech
from gsv_trt.models.sovits.frontend_loader import random_frontend
from gsv_trt.models.sovits.reference_audio import load_reference
from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.models.vocoder.checkpoint import read_checkpoint, unwrap_state_dict
from gsv_trt.models.vocoder.config import BigVGANConfig, GeneratorConfig
from gsv_trt.models.vocoder.loader import vocoder_from_state_dict
from gsv_trt.synthesis import EngineOptions, Segment, SynthesisStage, cfm_runner, resolve_runtime, vocoder_runner
from gsv_trt.synthesis.loader import open_stage, stage_from_state_dicts
from gsv_trt.synthesis.runners import recipe_for, tensorrt_problem

FIXTURES = Path(__file__).parent / "fixtures"
CPU = torch.device("cpu")
SYN_DIT = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)  # takes the 512-wide fea
STEPS = 4
SEGMENTS = [Segment(torch.tensor([100, 101, 102, 103, 7, 8]), torch.tensor([1, 2, 3])),
            Segment(torch.tensor([7, 8, 9, 500]), torch.tensor([5, 6]))]
PROMPT_CODES, PROMPT_PHONES = torch.arange(5, 80), torch.arange(10, 30)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    samples, rate = sf.read(shipped_speech(), dtype="int16")
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(path, samples[: int(3.2 * rate)], rate, subtype="PCM_16")
    return path


@lru_cache(maxsize=None)
def parts():
    """v4: random full-size front end, random reduced CFM, the shipped reduced vocoder (tests/fixtures/v4_small)."""
    width = json.loads((FIXTURES / "v4_small" / "config.json").read_text())["upsample_initial_channel"]
    path = FIXTURES / "v4_small" / "vocoder.pth"
    vocoder = vocoder_from_state_dict("v4", unwrap_state_dict(read_checkpoint(path), path, "v4"), str(path),
                                      GeneratorConfig(upsample_initial_channel=width))
    return random_frontend("v4").model, load_cfm("v4", "random", config=SYN_DIT), vocoder


@pytest.fixture(scope="module")
def onnx_stage(tmp_path_factory):
    """The stage on ONNX-Runtime fp32, its graphs exported and checked into a fresh folder (once per module)."""
    frontend, cfm, vocoder = parts()
    engines = EngineOptions(out_dir=tmp_path_factory.mktemp("engines"))
    stage = SynthesisStage("v4", frontend, cfm_runner(cfm, "onnxruntime", "fp32", CPU, engines),
                           vocoder_runner(vocoder, "onnxruntime", "fp32", CPU, engines))
    return stage, engines


def run(stage: SynthesisStage, clip: Path, path: str = "batched", seed: int = 7) -> torch.Tensor:
    prompt = stage.prompt(load_reference(clip, stage.version), PROMPT_CODES, PROMPT_PHONES)
    audio = stage.synthesize(prompt, SEGMENTS, path, STEPS, 1.0, torch.Generator().manual_seed(seed))
    return torch.cat(audio)


def test_onnxruntime_stage_equals_eager_fp32(onnx_stage, clip):
    frontend, cfm, vocoder = parts()
    ort, engines = onnx_stage
    eager = SynthesisStage("v4", frontend, cfm_runner(cfm, "eager", "fp32", CPU),
                           vocoder_runner(vocoder, "eager", "fp32", CPU))
    assert ort.cfm.info.name == ort.vocoder.info.name == "onnxruntime"
    assert sorted(p.name for p in engines.out_dir.glob("*.onnx")) == [
        "gpt-sovits-v4-cfm-condition-fp32-random.onnx", "gpt-sovits-v4-cfm-step-fp32-random.onnx",
        f"gpt-sovits-v4-vocoder-fp32-{vocoder.weights_sha256[:12]}.onnx"]
    want, got = run(eager, clip), run(ort, clip)
    assert got.shape == want.shape and float(want.abs().max()) > 0.01
    assert float((got - want).abs().max()) <= 1e-4  # ONNX-Runtime fp32 vs PyTorch fp32, 4 Euler steps + vocoder


def test_a_second_stage_reuses_the_checked_graphs(onnx_stage, capsys):
    _, engines = onnx_stage
    cfm_runner(parts()[1], "onnxruntime", "fp32", CPU, engines)
    assert "reusing exported gpt-sovits-v4-cfm-condition-fp32-random.onnx" in capsys.readouterr().err


def test_onnx_files_of_other_weights_are_replaced_only_with_force(onnx_stage, tmp_path):
    _, engines = onnx_stage
    other = load_cfm("v4", "random", config=SYN_DIT)
    other.is_random, other.weights, other.weights_sha256 = False, "voice.pth", "ab" * 32
    shutil.copy(engines.out_dir / "gpt-sovits-v4-cfm-step-fp32-random.onnx",  # a graph of other weights is there
                tmp_path / "gpt-sovits-v4-cfm-step-fp32-abababababab.onnx")
    with pytest.raises(GsvTrtError, match="holds RANDOM weights, not weights voice.pth .* pass --force"):
        cfm_runner(other, "onnxruntime", "fp32", CPU, EngineOptions(out_dir=tmp_path))


@pytest.mark.skipif(isinstance(installed()["rtx"], str), reason="TensorRT-RTX not installed (pip install -e '.[rtx]')")
def test_engine_options_size_the_engines_the_runners_build(tmp_path, capsys):
    # what GPT-SoVITS's tensorrt_max_batch_size and tensorrt_workspace_size become: TensorRT-RTX builds ahead of time
    for path in small_pair("fp16"):  # the reduced CFM's graphs, shared with the engine tests
        shutil.copy(path, tmp_path / path.name)
    options = EngineOptions(out_dir=tmp_path, workspace_bytes=1 << 30, max_batch=3)
    (_, condition), (step, sidecar) = cfm_engines(small_cfm(), options.out_dir, recipe_for("fp16", CPU, options))
    assert step.name == "gpt-sovits-v4-cfm-step-fp16-random.plan"
    assert [p["batch"] for p in sidecar["profiles"]] == [[1, 1, 1], [2, 3, 3]]
    assert sidecar["options"]["workspace_bytes"] == condition["options"]["workspace_bytes"] == 1 << 30
    assert "reusing exported" in capsys.readouterr().err


def test_runtimes_that_cannot_run_here_are_one_line_refusals():
    assert resolve_runtime("auto", CPU) == "eager"
    with pytest.raises(GsvTrtError, match=r"^runtime tensorrt: needs a CUDA GPU \(device is cpu\)$"):
        resolve_runtime("tensorrt", CPU)
    with pytest.raises(GsvTrtError, match="runtime torch-fast: needs a CUDA GPU"):
        cfm_runner(parts()[1], "torch-fast", "fp32", CPU)


def outputs_in_threads(call, inputs: list, rounds: int = 3) -> list:
    """``call`` on each input from its own thread, ``rounds`` times over; the results of the last round."""
    results: list = [None] * len(inputs)
    start = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        start.wait()
        for _ in range(rounds):
            results[i] = call(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_threads_see_their_own_data(cfm, vocoder, device: torch.device, rel: float = 0.0) -> None:
    """Two threads call each runner with inputs of one shape (so the same static buffers, where a runtime has them)
    and different values; each gets what a call alone gives, within ``rel`` of its size."""
    gen = torch.Generator().manual_seed(3)
    mus = [torch.randn(1, 80, SYN_DIT.text_dim, generator=gen).to(device) for _ in range(2)]
    prompt = torch.randn(1, 100, 20, generator=gen).to(device)
    noises = [torch.randn(1, 100, 80, generator=gen).to(device) for _ in range(2)]
    mels = [torch.randn(1, 100, 64, generator=gen).to(device) for _ in range(2)]

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return float((a - b).abs().max()) <= rel * float(b.abs().max())

    alone = [cfm(mu, prompt, STEPS, noise) for mu, noise in zip(mus, noises)]
    assert not same(alone[0], alone[1])
    together = outputs_in_threads(lambda i: cfm(mus[i], prompt, STEPS, noises[i]), [0, 1])
    assert all(same(a, b) for a, b in zip(together, alone))
    alone = [vocoder(mel) for mel in mels]
    together = outputs_in_threads(vocoder, mels)
    assert all(same(a, b) for a, b in zip(together, alone))


def test_eager_runners_shared_by_threads_give_each_its_own_output():
    _, cfm, vocoder = parts()
    check_threads_see_their_own_data(cfm_runner(cfm, "eager", "fp32", CPU), vocoder_runner(vocoder, "eager", "fp32",
                                                                                          CPU), CPU)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_fast_runners_shared_by_threads_give_each_its_own_output():
    # torch-fast replays CUDA graphs on static buffers: without the runner's lock two threads would mix their data
    _, cfm, _ = parts()
    cuda = torch.device("cuda")
    check_threads_see_their_own_data(cfm_runner(cfm, "torch-fast", "fp16", cuda),
                                     vocoder_runner(load_vocoder("v4"), "torch-fast", "fp16", cuda), cuda, rel=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tensorrt_stage_equals_eager_fp32_on_the_gpu(tmp_path, clip):
    cuda = torch.device("cuda")
    problem = tensorrt_problem(cuda)
    if problem:
        pytest.skip(f"runtime tensorrt: {problem}")
    frontend, cfm, vocoder = parts()
    engines = EngineOptions(out_dir=tmp_path, max_batch=4)
    trt = SynthesisStage("v4", frontend, cfm_runner(cfm, "tensorrt", "fp32", cuda, engines),
                         vocoder_runner(vocoder, "tensorrt", "fp32", cuda, engines), cuda)
    assert trt.cfm.info.name.startswith("tensorrt") and trt.vocoder.info.name.startswith("tensorrt")
    eager = SynthesisStage("v4", frontend, cfm_runner(cfm, "eager", "fp32", cuda),
                           vocoder_runner(vocoder, "eager", "fp32", cuda), cuda)
    for path in ("sequential", "batched"):
        want, got = run(eager, clip, path).cpu(), run(trt, clip, path).cpu()
        assert float((got - want).abs().max()) <= 1e-3 * float(want.abs().max())  # fp32 engines, TF32 off


def sovits_state(version: str) -> dict[str, torch.Tensor]:
    """A SoVITS state dict as GPT-SoVITS holds it under is_half: fp16 front end and reduced CFM under ``cfm.``."""
    cfm = spread_init(CFM(SYN_DIT), 11)
    state = {k: v.half() for k, v in random_frontend(version, seed=5).model.state_dict().items()}
    state.update({f"cfm.{k}": v.half() for k, v in cfm.state_dict().items()})
    return state


def test_stage_from_state_dicts_equals_the_stage_opened_from_the_same_files(tmp_path, clip):
    state = sovits_state("v3")
    path = write_sovits(tmp_path / "voice.pth", state, s2_config("v3"))
    small = FIXTURES / "v3_small"
    from_file = open_stage("v3", path, small, "eager", "fp32", CPU, cfm_config=SYN_DIT)
    vocoder_state = load_vocoder("v3", small).model.state_dict()
    from_memory = stage_from_state_dicts("v3", state, vocoder_state, "eager", "fp32", CPU, source="voice.pth",
                                         cfm_config=SYN_DIT,
                                         vocoder_config=BigVGANConfig.from_json(small / "config.json"))
    assert from_memory.random == [] and from_file.random == []
    for part in ("front end", "cfm", "vocoder"):
        assert "weights loaded by GPT-SoVITS from voice.pth" in from_memory.parts[part].detail
    # the CFM digest is of the tensors, so GPT-SoVITS's in-memory weights find the engines made from the file
    assert from_file.parts["cfm"].detail.split("cfm sha256 ")[1] == from_memory.parts["cfm"].detail.split(
        "cfm sha256 ")[1]
    want = run(from_file.stage, clip, "sequential")
    assert float(want.abs().max()) > 0.01
    assert torch.equal(run(from_memory.stage, clip, "sequential"), want)


def test_a_state_dict_that_does_not_fit_is_one_line_naming_its_source():
    state = sovits_state("v4")
    del state["cfm.estimator.proj_out.bias"]
    with pytest.raises(GsvTrtError, match=r"^loaded by GPT-SoVITS from voice.pth: keys do not match the CFM of .*"
                                          r"1 missing \(first: estimator.proj_out.bias\)$"):
        stage_from_state_dicts("v4", state, {}, "eager", "fp32", CPU, source="voice.pth", cfm_config=SYN_DIT)


def test_token_ids_are_checked_on_the_host_before_they_reach_the_device(clip):
    frontend, cfm, vocoder = parts()
    stage = SynthesisStage("v4", frontend, cfm_runner(cfm, "eager", "fp32", CPU),
                           vocoder_runner(vocoder, "eager", "fp32", CPU))
    with pytest.raises(GsvTrtError, match=r"codes: id 1024 at index \[0, 0, 1\] is outside the codebook"):
        stage.prompt(load_reference(clip, "v4"), torch.tensor([3, 1024]), PROMPT_PHONES)
    prompt = stage.prompt(load_reference(clip, "v4"), PROMPT_CODES, PROMPT_PHONES)
    with pytest.raises(GsvTrtError, match=r"phones: id 900 at index \[0, 0\] is outside the symbol table"):
        stage.features(prompt, Segment(torch.tensor([1, 2]), torch.tensor([900])), 1.0)
