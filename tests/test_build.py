"""Building engines with the TensorRT builder API on this machine (TensorRT-RTX ahead of time; no GPU needed).

A tiny vocoder-shaped model with the op set of the v3 graph (Conv, grouped ConvTranspose, Pad mode=edge, Sin, Pow,
Slice, Cast in fp16) goes through the real exporter, then through the builder, in seconds. The full-size models
are built in test_engine_command.py.
"""

from __future__ import annotations

import json

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gsv_trt.build.builder import BuildOptions, ensure_engine, plan_build
from gsv_trt.build.flavour import import_flavour
from gsv_trt.build.profiles import make_profiles
from gsv_trt.build.progress import BuildConsole
from gsv_trt.build.sidecar import KEY_FIELDS, read_sidecar, sidecar_path
from gsv_trt.errors import GsvTrtError
from gsv_trt.export.vocoder.exporter import export_onnx
from gsv_trt.models.vocoder import LoadedVocoder, spec_for

trt = pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX not installed (pip install -e '.[rtx]' from the checkout)")
RTX = BuildOptions(trt="rtx", profiles=tuple(make_profiles(max_frames=2048, split_frames=256)))


class TinyVocoder(nn.Module):
    """[B,100,T] -> [B,1,480T] (v4's hop) through the ops BigVGAN's graph is made of."""

    def __init__(self):
        super().__init__()
        self.conv_pre = nn.Conv1d(100, 8, 3, padding=1)
        self.up = nn.ConvTranspose1d(8, 8, 4, stride=2, groups=8)  # depthwise, like the anti-alias upsampler
        self.alpha = nn.Parameter(torch.rand(1, 8, 1))
        self.conv_post = nn.ConvTranspose1d(8, 1, 240, stride=240)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.up(F.pad(self.conv_pre(mel), (2, 2), mode="replicate"))[..., 5:-5]
        x = x + torch.sin(x * self.alpha).pow(2)  # Snake
        return self.conv_post(x)


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """fp32 and fp16 graphs of TinyVocoder written by the real exporter (metadata, fp32 I/O, named dims)."""
    torch.manual_seed(0)
    loaded = LoadedVocoder(TinyVocoder().eval(), spec_for("v4"), "tiny test model", "tiny-test-weights", {})
    out = tmp_path_factory.mktemp("tiny")
    return {p: export_onnx(loaded, out / f"tiny-{p}.onnx", p) for p in ("fp32", "fp16")}


@pytest.fixture
def console():
    return BuildConsole()


def test_graph_has_the_ops_of_the_v3_vocoder(tiny_onnx):
    nodes = onnx.load(str(tiny_onnx["fp16"])).graph.node
    ops = {n.op_type for n in nodes}
    assert {"Conv", "ConvTranspose", "Pad", "Sin", "Pow", "Slice", "Cast"} <= ops
    pad = next(n for n in nodes if n.op_type == "Pad")
    assert onnx.helper.get_attribute_value(next(a for a in pad.attribute if a.name == "mode")) == b"edge"
    groups = [onnx.helper.get_attribute_value(a) for n in nodes if n.op_type == "ConvTranspose"
              for a in n.attribute if a.name == "group"]
    assert 8 in groups


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_rtx_builds_ahead_of_time_with_a_complete_sidecar(tiny_onnx, tmp_path, console, precision):
    plan = tmp_path / f"tiny-{precision}.plan"
    sidecar, built = ensure_engine(tiny_onnx[precision], plan, RTX, gpu=None, console=console)

    assert built and plan.stat().st_size > 0
    assert sidecar == json.loads(sidecar_path(plan).read_text()) == read_sidecar(plan)
    assert set(KEY_FIELDS) <= sidecar.keys()
    assert sidecar["model"] == {"vocoder": "v4", "hop": 480, "sample_rate": 48000,
                                "weights_sha256": "tiny-test-weights"}
    assert sidecar["precision"] == precision
    assert sidecar["fp32_islands"] == ([] if precision == "fp32" else ["output"])
    assert [p["name"] for p in sidecar["profiles"]] == ["short", "long"]
    assert sidecar["profiles"][1]["frames"] == [257, 1000, 2048]  # --opt-frames above the split tunes "long"
    assert sidecar["tensorrt"] == {"flavour": "rtx", "module": "tensorrt_rtx", "version": trt.__version__}
    assert sidecar["targets"] == {"compute_capabilities": ["8.0", "8.6", "8.9", "12.0", "12.1"], "gpu": None}
    assert sidecar["io"] == {"inputs": [{"name": "mel", "dtype": "float32", "shape": [-1, 100, -1],
                                         "dims": ["batch", 100, "frames"]}],
                             "outputs": [{"name": "wav", "dtype": "float32", "shape": [-1, 1, -1]}]}
    assert sidecar["engine"]["bytes"] == plan.stat().st_size and len(sidecar["engine"]["sha256"]) == 64
    assert sidecar["build"]["seconds"] > 0 and sidecar["build"]["host_gpu"] is None
    assert "Hopper" in sidecar["notes"]["runs_on"]


def test_second_build_reuses_and_changed_inputs_rebuild(tiny_onnx, tmp_path, console, capsys):
    plan = tmp_path / "tiny.plan"
    first, built = ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    assert built
    again, built = ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    assert not built and again == first
    assert "reusing cached engine" in capsys.readouterr().err

    turing = BuildOptions(trt="rtx", profiles=RTX.profiles, target_ccs=("7.5",))
    rebuilt, built = ensure_engine(tiny_onnx["fp32"], plan, turing, None, console)
    assert built and rebuilt["targets"]["compute_capabilities"] == ["7.5"]
    assert "targets changed" in capsys.readouterr().err


def test_a_modified_plan_is_not_reused(tiny_onnx, tmp_path, console, capsys):
    plan = tmp_path / "tiny.plan"
    ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    data = bytearray(plan.read_bytes())
    data[-1] ^= 0xFF
    plan.write_bytes(bytes(data))

    _, built = ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    assert built
    assert "existing engine is unusable" in capsys.readouterr().err
    read_sidecar(plan)  # consistent again


def test_cache_key_follows_onnx_and_precision(tiny_onnx):
    fp32 = plan_build(tiny_onnx["fp32"], RTX, None).inputs
    fp16 = plan_build(tiny_onnx["fp16"], RTX, None).inputs
    assert fp32["onnx_sha256"] != fp16["onnx_sha256"] and fp32["precision"] != fp16["precision"]


def test_target_choices_are_checked_before_building(tiny_onnx):
    with pytest.raises(GsvTrtError, match="targets compute capability .* only"):
        plan_build(tiny_onnx["fp32"], BuildOptions(trt="rtx", target_ccs=("9.0",)), None)
    with pytest.raises(GsvTrtError, match="no GPU here"):
        plan_build(tiny_onnx["fp32"], BuildOptions(trt="rtx", target_ccs=("current",)), None)


def test_full_tensorrt_needs_a_gpu_to_build(tiny_onnx):
    # whether or not `tensorrt` is installed, building with it here (no GPU passed) is refused in one line
    with pytest.raises(GsvTrtError, match="not importable|builds only on the NVIDIA GPU"):
        plan_build(tiny_onnx["fp32"], BuildOptions(trt="tensorrt"), None)


def test_rtx_flavour_knows_its_targets():
    rtx = import_flavour("rtx")
    assert {"7.5", "8.6", "8.9", "12.0"} <= set(rtx.supported_ccs())
    assert "9.0" not in rtx.supported_ccs() and "7.5" not in rtx.default_ccs()
    assert rtx.network_flags() != 0  # strongly typed


def test_a_graph_not_from_gsv_trt_is_refused(tmp_path):
    model = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []))
    path = tmp_path / "foreign.onnx"
    onnx.save(model, str(path))
    with pytest.raises(GsvTrtError, match="not exported by gsv-trt"):
        plan_build(path, RTX, None)


def test_build_command_prints_the_engine_paths(tiny_onnx, tmp_path, capsys):
    from gsv_trt.cli import main

    plan = tmp_path / "cli.plan"
    assert main(["build", str(tiny_onnx["fp16"]), "--out", str(plan), "--trt", "rtx", "--max-frames", "512"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(plan), str(plan.with_suffix(".json"))]
    assert read_sidecar(plan)["profiles"][-1]["frames"][2] == 512
    assert main(["build", str(tiny_onnx["fp16"]), "--out", str(tmp_path / "x.engine")]) == 2


def test_an_engine_of_other_weights_is_replaced_only_with_force(tiny_onnx, tmp_path, console, capsys):
    plan = tmp_path / "tiny.plan"
    ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    sidecar = json.loads(sidecar_path(plan).read_text())  # as if built from a trained checkpoint
    sidecar["model"]["weights_sha256"], sidecar["sources"]["weights"] = "cd" * 32, "/models/vocoder.pth"
    sidecar_path(plan).write_text(json.dumps(sidecar))
    with pytest.raises(GsvTrtError, match=r"tiny.plan holds weights /models/vocoder.pth \(sha256 cdcdcdcdcdcd\), "
                                          r"not weights tiny test model .*pass --force to replace it"):
        ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console)
    _, built = ensure_engine(tiny_onnx["fp32"], plan, RTX, None, console, force=True)
    assert built and f"replacing {plan}, built from weights /models/vocoder.pth" in capsys.readouterr().err
    assert read_sidecar(plan)["model"]["weights_sha256"] == "tiny-test-weights"
