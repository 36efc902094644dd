"""``gsv-trt cfm``: upstream's CFM.inference call from files, and one-line refusals that write nothing."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from gsv_trt.cli import build_parser, main
from gsv_trt.commands.cfm import RUNTIMES

INFERENCE_ATOL = 1e-4


@pytest.fixture
def inputs(tmp_path, fixtures):
    """Valid MU/PROMPT/NOISE files (the fixture's command case: B=2, T=24, T_prompt=8) in tmp_path."""
    io = np.load(fixtures / "cfm_full.npz")
    paths = {}
    for name in ("mu", "prompt", "noise"):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], io[f"cmd_{name}"])
    return paths, io["cmd_mel"]


def cli(paths: dict, out, *extra: str) -> list[str]:
    args = ["cfm", "--version", "v4", "--mu", str(paths["mu"]), "--prompt", str(paths["prompt"]), "--steps", "4",
            "--out", str(out), *extra]
    if "noise" in paths:
        args += ["--noise", str(paths["noise"])]
    return args


@pytest.mark.slow
def test_random_full_size_cfm_equals_upstream(inputs, tmp_path, capsys):
    # the real 337 M model with load_cfm's random weights (spread_init seed 0), the same noise as upstream's run
    paths, want = inputs
    out = tmp_path / "mel.npy"
    assert main(cli(paths, out, "--runtime", "eager", "--precision", "fp32", "--device", "cpu")) == 0
    mel = np.load(out)
    assert mel.shape == (2, 100, 24) and mel.dtype == np.float32
    assert np.abs(mel - want).max() <= INFERENCE_ATOL
    captured = capsys.readouterr()
    assert "runtime torch-eager fp32 on cpu" in captured.out and "RANDOM" in captured.out
    assert "RANDOM" in captured.err  # announced before the run too


def write(path, array) -> str:
    np.save(path, array)
    return str(path)


def text_file(path) -> str:
    path.write_text("hello")
    return str(path)


BAD = {  # name: (how to spoil the valid inputs, what the one-line error must say)
    "mu rank": (lambda p, d: {"mu": write(p / "m.npy", np.zeros((24, 512), np.float32))},
                "m.npy: expected shape [B, T, 512] (time-major features), got [24, 512]"),
    "mu channel-major": (lambda p, d: {"mu": write(p / "m.npy", np.zeros((2, 512, 24), np.float32))},
                         "m.npy: expected shape [B, T, 512]"),
    "mu float64": (lambda p, d: {"mu": write(p / "m.npy", np.zeros((2, 24, 512)))}, "m.npy: expected float32, got float64"),
    "mu NaN": (lambda p, d: {"mu": write(p / "m.npy", np.full((2, 24, 512), np.nan, np.float32))},
               "m.npy: contains NaN or Inf"),
    "mu too long": (lambda p, d: {"mu": write(p / "m.npy", np.zeros((1, 4097, 512), np.float32))},
                    "m.npy: T=4097 frames exceeds the 4096-frame position table"),
    "prompt longer than mu": (lambda p, d: {"prompt": write(p / "p.npy", np.zeros((1, 100, 25), np.float32))},
                              "p.npy: 25 frames is longer than"),
    "prompt bands": (lambda p, d: {"prompt": write(p / "p.npy", np.zeros((1, 80, 8), np.float32))},
                     "p.npy: expected shape [1 or 2, 100, T_prompt], got [1, 80, 8]"),
    "noise shape": (lambda p, d: {"noise": write(p / "n.npy", np.zeros((2, 100, 23), np.float32))},
                    "n.npy: expected shape [2, 100, 24]"),
    "noise Inf": (lambda p, d: {"noise": write(p / "n.npy", np.full((2, 100, 24), np.inf, np.float32))},
                  "n.npy: contains NaN or Inf"),
    "missing file": (lambda p, d: {"mu": str(p / "absent.npy")}, "--mu " + "{tmp}/absent.npy: no such file"),
    "not a npy": (lambda p, d: {"prompt": text_file(p / "t.npy")}, "t.npy: not a readable .npy array"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(inputs, tmp_path, capsys, case):
    paths, _ = inputs
    spoil, message = BAD[case]
    out = tmp_path / "mel.npy"
    assert main(cli({**paths, **spoil(tmp_path, paths)}, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsv-trt cfm: error: ") and "\n" not in err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (("--steps", "0"), "--steps: 0 is below 1"),
    (("--runtime", "onnxruntime", "--engine-dir", "{tmp}"), "runtime onnxruntime: not available (no "
                                                                "gpt-sovits-v4-cfm-step-fp32-*.onnx in"),
    (("--runtime", "onnxruntime", "--engine", "{tmp}/x.plan"), "runtime onnxruntime takes a .onnx file"),
    (("--runtime", "tensorrt"), "runtime tensorrt: not available"),
    (("--runtime", "torch-fast", "--device", "cpu"), "runtime torch-fast: not available here"),
    (("--sovits-weights", "{tmp}/absent.pth"), "absent.pth"),
])
def test_bad_options_are_refused_before_anything_runs(inputs, tmp_path, capsys, extra, message):
    paths, _ = inputs
    out = tmp_path / "mel.npy"
    assert main(cli(paths, out, *(e.replace("{tmp}", str(tmp_path)) for e in extra))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and not out.exists()


def test_out_must_be_npy_and_is_checked_first(inputs, tmp_path, capsys):
    paths, _ = inputs
    assert main(cli({**paths, "mu": tmp_path / "absent.npy"}, tmp_path / "mel.txt")) == 2
    assert "--out " in capsys.readouterr().err and not (tmp_path / "mel.txt").exists()


def test_untrained_step_count_warns(inputs, tmp_path, capsys):
    # the warning comes before the model is loaded (here the weights file is missing, so nothing runs)
    paths, _ = inputs
    assert main(cli(paths, tmp_path / "mel.npy", "--steps", "6", "--sovits-weights", str(tmp_path / "x.pth"))) == 2
    err = capsys.readouterr().err
    assert "warning: --steps: 6 is not a step count the model was trained for (4, 8, 16, 32, 64)" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_device_without_gpu_is_refused(inputs, tmp_path, capsys):
    paths, _ = inputs
    assert main(cli(paths, tmp_path / "mel.npy", "--device", "cuda")) == 2
    assert "--device cuda: no CUDA GPU here" in capsys.readouterr().err


def test_every_option_has_help():
    parser = build_parser()
    cfm = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["cfm"]
    options = {a.option_strings[-1]: a.help for a in cfm._actions if a.option_strings}
    assert {"--version", "--sovits-weights", "--gpt-sovits-root", "--lora-base", "--mu", "--prompt", "--steps",
            "--noise", "--seed", "--precision", "--runtime", "--device", "--out"} <= set(options)
    assert all(options.values())
    assert set(RUNTIMES) == {"eager", "onnxruntime", "tensorrt", "torch-fast"}
