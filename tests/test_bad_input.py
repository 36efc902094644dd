"""Every bad checkpoint gives one line naming the file and the problem, exit status 2, and writes nothing."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gsv_trt.cli import main


def export_cli(tmp_path: Path, version: str, weights: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous export")  # must survive a failed export untouched
    code = main(["export", "--version", version, "--weights", str(weights), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert out.read_bytes() == b"previous export"
    return code, err, out


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def v3_dir(tmp_path, fixtures) -> Path:
    target = tmp_path / "bigvgan"
    shutil.copytree(fixtures / "v3_small", target)
    return target


@pytest.fixture
def v4_file(tmp_path, fixtures) -> Path:
    target = tmp_path / "vocoder.pth"
    shutil.copy(fixtures / "v4_small" / "vocoder.pth", target)
    return target


def test_missing_checkpoint(tmp_path, capsys):
    code, err, _ = export_cli(tmp_path, "v4", tmp_path / "nope.pth", capsys)
    assert_one_line_error(code, err, "nope.pth", "no such file")


def test_truncated_checkpoint(tmp_path, v4_file, capsys):
    data = v4_file.read_bytes()
    v4_file.write_bytes(data[: len(data) // 2])
    code, err, _ = export_cli(tmp_path, "v4", v4_file, capsys)
    assert_one_line_error(code, err, "vocoder.pth", "truncated or corrupt")
    assert "weights_only" not in err


def test_random_bytes_are_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "vocoder.pth"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    code, err, _ = export_cli(tmp_path, "v4", bad, capsys)
    assert_one_line_error(code, err, "vocoder.pth", "not a PyTorch checkpoint")
    assert "weights_only" not in err  # no advice to load untrusted pickles


def test_checkpoint_holding_objects(tmp_path, capsys):
    whole = tmp_path / "vocoder.pth"
    torch.save(torch.nn.Conv1d(2, 2, 1), whole)  # a pickled module, not a state dict
    code, err, _ = export_cli(tmp_path, "v4", whole, capsys)
    assert_one_line_error(code, err, "vocoder.pth", "torch.nn.modules.conv.Conv1d", "state_dict()")
    assert "weights_only" not in err


def test_v3_directory_given_as_v4(tmp_path, v3_dir, capsys):
    code, err, _ = export_cli(tmp_path, "v4", v3_dir, capsys)
    assert_one_line_error(code, err, str(v3_dir), "is a v3 vocoder directory", "--version is v4")


def test_v4_file_given_as_v3(tmp_path, v4_file, capsys):
    code, err, _ = export_cli(tmp_path, "v3", v4_file, capsys)
    assert_one_line_error(code, err, str(v4_file), "is a v4 vocoder checkpoint", "--version is v3")


def test_empty_checkpoint(tmp_path, capsys):
    empty = tmp_path / "vocoder.pth"
    empty.touch()
    code, err, _ = export_cli(tmp_path, "v4", empty, capsys)
    assert_one_line_error(code, err, "vocoder.pth", "empty file")


def test_v3_checkpoint_given_as_v4(tmp_path, v3_dir, capsys):
    code, err, _ = export_cli(tmp_path, "v4", v3_dir / "bigvgan_generator.pt", capsys)
    assert_one_line_error(code, err, "bigvgan_generator.pt", "v3 vocoder", "--version is v4")


def test_v4_checkpoint_given_as_v3(tmp_path, v3_dir, v4_file, capsys):
    shutil.copy(v4_file, v3_dir / "bigvgan_generator.pt")  # right layout, wrong network inside
    code, err, _ = export_cli(tmp_path, "v3", v3_dir, capsys)
    assert_one_line_error(code, err, "bigvgan_generator.pt", "v4 vocoder", "--version is v3")


def test_sovits_model_instead_of_vocoder(tmp_path, capsys):
    s2g = tmp_path / "s2Gv4.pth"
    torch.save({"weight": {"enc_p.w": torch.zeros(2)}, "config": {}, "info": "x"}, s2g)
    code, err, _ = export_cli(tmp_path, "v4", s2g, capsys)
    assert_one_line_error(code, err, "s2Gv4.pth", "SoVITS model", "vocoder.pth")


def test_config_json_that_does_not_match_the_weights(tmp_path, v3_dir, capsys):
    cfg = json.loads((v3_dir / "config.json").read_text())
    cfg["upsample_initial_channel"] = 256
    (v3_dir / "config.json").write_text(json.dumps(cfg))
    code, err, _ = export_cli(tmp_path, "v3", v3_dir, capsys)
    assert_one_line_error(code, err, "bigvgan_generator.pt", "conv_pre.weight has shape [128, 100, 7]",
                          "expects [256, 100, 7]")


def test_config_json_of_another_bigvgan(tmp_path, v3_dir, capsys):
    cfg = json.loads((v3_dir / "config.json").read_text())
    cfg.update(num_mels=80, sampling_rate=22050)
    (v3_dir / "config.json").write_text(json.dumps(cfg))
    code, err, _ = export_cli(tmp_path, "v3", v3_dir, capsys)
    assert_one_line_error(code, err, "config.json", "22050 Hz, 80-band", "bigvgan_v2_24khz_100band_256x")


def test_broken_config_json(tmp_path, v3_dir, capsys):
    (v3_dir / "config.json").write_text("{not json")
    code, err, _ = export_cli(tmp_path, "v3", v3_dir, capsys)
    assert_one_line_error(code, err, "config.json", "not valid JSON")


def test_missing_config_json(tmp_path, v3_dir, capsys):
    (v3_dir / "config.json").unlink()
    code, err, _ = export_cli(tmp_path, "v3", v3_dir, capsys)
    assert_one_line_error(code, err, "config.json", "no such file")


def test_nan_in_weights(tmp_path, capsys):
    from gsv_trt.models.vocoder import build_model

    state = build_model("v4").state_dict()  # the real v4 layout, one poisoned value
    state["conv_post.weight"][0, 0, 0] = float("nan")
    v4_file = tmp_path / "vocoder.pth"
    torch.save(state, v4_file)
    code, err, _ = export_cli(tmp_path, "v4", v4_file, capsys)
    assert_one_line_error(code, err, "vocoder.pth", "conv_post.weight contains NaN")


def test_gpt_sovits_root_without_the_vocoder(tmp_path, capsys):
    (tmp_path / "GPT_SoVITS" / "pretrained_models").mkdir(parents=True)
    code = main(["export", "--version", "v4", "--gpt-sovits-root", str(tmp_path), "--out", str(tmp_path / "x.onnx")])
    assert_one_line_error(code, capsys.readouterr().err.strip(), "gsv-v4-pretrained/vocoder.pth")


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gsv_trt", "export", "--version", "v4", "--weights",
                             str(tmp_path / "nope.pth"), "--out", str(tmp_path / "x.onnx"), "--debug"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr and "GsvTrtError" in result.stderr
