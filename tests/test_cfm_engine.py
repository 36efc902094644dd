"""CFM engines: TensorRT-RTX builds the conditioner and step engines ahead of time (no GPU needed) with profiles for
GPT-SoVITS's two paths, named and cached by the weights inside; the TensorRT runner refuses what it cannot run
before TensorRT is touched. A reduced-width DiT keeps the builds quick; ``make engine`` builds the full-size one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from cfm_graphs import small_cfm, small_pair
from sovits_files import SMALL_DIT, s2_config, small_cfm as seeded_cfm, sovits_weights, write_sovits
from gsv_trt.build.flavour import installed
from gsv_trt.build.profiles import cfm_profiles
from gsv_trt.build.sidecar import read_sidecar, sidecar_path
from gsv_trt.cli import build_parser
from gsv_trt.build.engines import cfm_engines
from gsv_trt.commands.engine import recipe_from_args
from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import load_cfm
from gsv_trt.runtime.cfm.trt_engine import TensorRTCFM

needs_rtx = pytest.mark.skipif(isinstance(installed()["rtx"], str),
                               reason="TensorRT-RTX not installed (pip install -e '.[rtx]')")
REPO = Path(__file__).resolve().parents[1]


def engine_args(out_dir: Path, *extra: str):
    return build_parser().parse_args(["engine", "--version", "v4", "--stage", "cfm", "--out-dir", str(out_dir),
                                      "--trt", "rtx", *extra])


def built_by(args, out_dir: Path, loaded):
    """What ``gsv-trt engine`` with ``args`` builds for ``loaded``: [(plan, sidecar)] of the pair."""
    return cfm_engines(loaded, out_dir, recipe_from_args(args))


def with_graphs(out_dir: Path, precision: str) -> Path:
    """``out_dir`` holding the shared exported pair, so the engine step reuses it instead of exporting again."""
    out_dir.mkdir(exist_ok=True)
    for path in small_pair(precision):
        shutil.copy(path, out_dir / path.name)
    return out_dir


@pytest.fixture(scope="module")
def fp16_engines(tmp_path_factory):
    out = with_graphs(tmp_path_factory.mktemp("cfm-engines"), "fp16")
    built = built_by(engine_args(out, "--precision", "fp16"), out, small_cfm())
    return out, [plan for plan, _ in built]


@needs_rtx
def test_both_engines_build_ahead_of_time_with_profiles_for_both_paths(fp16_engines, capsys):
    out, plans = fp16_engines
    assert [p.name for p in plans] == ["gpt-sovits-v4-cfm-condition-fp16-random.plan",
                                       "gpt-sovits-v4-cfm-step-fp16-random.plan"]
    condition, step = (read_sidecar(p) for p in plans)
    assert step["model"] == {"component": "cfm-step", "version": "v4", "config": SMALL_DIT.to_dict(),
                             "pair": "gpt-sovits-v4-cfm-condition-fp16-random.onnx",
                             "weights_sha256": small_cfm().weights_sha256}
    assert condition["model"]["component"] == "cfm-condition" and condition["fp32_islands"] == ["norm", "grn"]
    assert step["fp32_islands"] == ["norm", "adaln", "rope", "softmax"] and step["sources"]["weights"] == "random"
    assert step["profiles"] == [{"name": "sequential", "batch": [1, 1, 1], "frames": [1, 1000, 1000]},
                                {"name": "batched", "batch": [2, 4, 8], "frames": [1, 1000, 1000]}]
    assert [t["dims"] for t in step["io"]["inputs"]] == [["batch", 100, "frames"], ["batch", 100, "frames"],
                                                        ["batch"], ["batch", "frames", 32], ["batch", 64]]
    assert step["tensorrt"]["flavour"] == "rtx" and "not Hopper" in step["notes"]["runs_on"]
    assert "parallel_infer" in step["notes"]["profiles"]

    again = built_by(engine_args(out, "--precision", "fp16"), out, small_cfm())
    err = capsys.readouterr().err
    assert "reusing exported" in err and err.count("reusing cached engine") == 2
    assert [read_sidecar(p) for p, _ in again] == [condition, step]


@needs_rtx
def test_engines_of_other_weights_get_their_own_files(tmp_path):
    """A fine-tune's engines and the random ones live side by side; neither run touches the other's files."""
    out = with_graphs(tmp_path, "fp32")
    voice = write_sovits(tmp_path / "my-voice.pth", sovits_weights(seeded_cfm(5)), s2_config("v4"))
    tuned = load_cfm("v4", voice, config=SMALL_DIT)
    mine = built_by(engine_args(out, "--precision", "fp32", "--no-check"), out, tuned)
    key = tuned.weights_sha256[:12]
    assert [p.name for p, _ in mine] == [f"gpt-sovits-v4-cfm-condition-fp32-{key}.plan",
                                         f"gpt-sovits-v4-cfm-step-fp32-{key}.plan"]
    built_at = [p.stat().st_mtime_ns for p, _ in mine]
    plain = built_by(engine_args(out, "--precision", "fp32"), out, small_cfm())
    assert all(p.name.endswith("-random.plan") for p, _ in plain)
    assert [p.stat().st_mtime_ns for p, _ in mine] == built_at
    assert read_sidecar(mine[1][0])["sources"]["weights"] == str(voice)


@needs_rtx
def test_runner_refuses_before_touching_tensorrt(fp16_engines, tmp_path):
    _, (condition, step) = fp16_engines
    from gsv_trt.runtime.vocoder.trt_engine import TensorRTVocoder

    with pytest.raises(GsvTrtError, match=r"a cfm-step engine \(x, prompt_x, t, text, dt_emb -> v\), not one of mel "):
        TensorRTVocoder(step)
    with pytest.raises(GsvTrtError, match="not the weights asked for"):
        TensorRTCFM(step, weights_sha256="ab" * 32)
    with pytest.raises(GsvTrtError, match="a vocoder engine, not one of the CFM's|no such engine"):
        TensorRTCFM(tmp_path / "missing.plan")
    lonely = tmp_path / step.name
    for path in (step, sidecar_path(step)):
        shutil.copy(path, tmp_path / path.name)
    with pytest.raises(GsvTrtError, match="its partner engine .*cfm-condition-fp16-random.plan is missing"):
        TensorRTCFM(lonely)
    with pytest.raises(GsvTrtError, match="not the partner"):
        TensorRTCFM(lonely, partner=lonely)
    if not torch.cuda.is_available():
        with pytest.raises(GsvTrtError) as error:
            TensorRTCFM(step)
        assert str(error.value).startswith(f"{condition}: cannot run here: no CUDA GPU")
        assert "\n" not in str(error.value)


@needs_rtx
def test_bf16_engines_build_with_mish_kept_fp32(tmp_path):
    """TensorRT-RTX has no bf16 Mish, so bf16 keeps it fp32 by default; ONNX-Runtime's CPU provider has no bf16
    kernels, and the check says it cannot compare rather than passing."""
    from gsv_trt.build.builder import BuildOptions, ensure_engine
    from gsv_trt.build.progress import BuildConsole
    from gsv_trt.export.cfm.check import check_cfm
    from gsv_trt.export.metadata import ANY, read_metadata

    condition, step = small_pair("bf16")
    assert read_metadata(step, ANY)["fp32_islands"] == "norm,adaln,rope,softmax,mish"
    for graph in (condition, step):
        sidecar, built = ensure_engine(graph, tmp_path / graph.with_suffix(".plan").name, BuildOptions(trt="rtx"),
                                       None, BuildConsole())
        assert built and sidecar["precision"] == "bf16"
    with pytest.raises(GsvTrtError, match="has no bf16 kernel .* cannot be checked numerically here"):
        check_cfm(step, loaded=small_cfm(), frames=(17,), batches=(1,))


def test_cfm_profiles_follow_the_chunk():
    sequential, batched = cfm_profiles(934)
    assert (sequential.batch, sequential.frames) == ((1, 1, 1), (1, 934, 1000))
    assert (batched.batch, batched.frames) == ((2, 4, 8), (1, 934, 1000))
    assert [p.name for p in cfm_profiles(1000, max_batch=1)] == ["sequential"]
    assert sequential.shapes_for(("batch", "frames", 512)) == ((1, 1, 512), (1, 934, 512), (1, 1000, 512))
    with pytest.raises(GsvTrtError, match="4096 entries"):
        cfm_profiles(1000, max_frames=5000)


@pytest.mark.parametrize("extra, message", [
    (("--cfm-fp32-islands", "norm,attention"), "fp32 islands attention: unknown"),
    (("--no-fp32-islands", "--cfm-fp32-islands", "norm"), "either --no-fp32-islands or --cfm-fp32-islands"),
    (("--max-frames", "5000"), "--max-frames 5000: the DiT's text position table has 4096 entries"),
])
def test_bad_cfm_options_are_one_line_errors_before_any_model_loads(tmp_path, capsys, extra, message):
    from gsv_trt.cli import main

    assert main(["engine", "--version", "v4", "--stage", "cfm", "--out-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0 and not list(tmp_path.iterdir())


def test_make_engine_passes_stage_and_weights():
    dry = subprocess.run(["make", "-n", "engine", "STAGE=cfm", "SOVITS_WEIGHTS=/models/my-voice.pth",
                          "VERSION=v3"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "engine --version v3 --precision fp16 --stage cfm" in dry and "--sovits-weights /models/my-voice.pth" in dry
    assert "--stage all" in subprocess.run(["make", "-n", "engine"], cwd=REPO, capture_output=True, text=True,
                                           check=True).stdout


def runnable_flavour() -> str | None:
    found = installed()
    if not isinstance(found["tensorrt"], str):
        return "tensorrt"
    cc = "{}.{}".format(*torch.cuda.get_device_capability(0))
    return "rtx" if not isinstance(found["rtx"], str) and cc in ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1") else None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-3), ("fp16", 5e-2)])
def test_engines_match_pytorch_on_the_gpu(tmp_path, precision, tolerance):
    """8 Euler steps through both engines against PyTorch eager fp32, numpy and CUDA tensors, both profiles."""
    from gsv_trt.runtime.cfm import euler
    from gsv_trt.runtime.cfm.torch_eager import TorchEagerCFM

    flavour = runnable_flavour()
    if flavour is None:
        pytest.skip(f"no TensorRT here that runs on {torch.cuda.get_device_name(0)} (full TensorRT not installed; "
                    "TensorRT-RTX does not run on this GPU)")
    out = with_graphs(tmp_path, precision)
    target = ("--target-cc", "current") if flavour == "rtx" else ()
    args = engine_args(out, "--precision", precision, "--no-check", *target)
    args.trt = flavour
    (_, _), (step, _) = built_by(args, out, small_cfm())
    reference = TorchEagerCFM(small_cfm())
    with TensorRTCFM(step) as engines:
        for batch, frames in ((1, 600), (3, 1000)):  # sequential and batched profile
            rng = np.random.default_rng(frames)
            mu = rng.standard_normal((batch, frames, SMALL_DIT.text_dim)).astype(np.float32)
            prompt = rng.standard_normal((1, 100, 200)).astype(np.float32)
            noise = rng.standard_normal((batch, 100, frames)).astype(np.float32)
            want = euler.inference(reference, mu, prompt, 8, noise)
            got = euler.inference(engines, mu, prompt, 8, noise)
            assert np.abs(got - want).mean() <= tolerance * np.abs(want).mean()
            on_gpu = euler.inference(engines, *(torch.from_numpy(a).cuda() for a in (mu, prompt)), 8,
                                     torch.from_numpy(noise).cuda())
            assert on_gpu.is_cuda and np.abs(on_gpu.cpu().numpy() - got).max() <= 1e-5
