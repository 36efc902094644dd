"""Export to ONNX, validate it, and check it with Polygraphy against the PyTorch fp32 model."""

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from gsv_trt.cli import main
from gsv_trt.export.vocoder.exporter import export_onnx
from gsv_trt.export.metadata import read_metadata
from gsv_trt.models.vocoder import build_model, load_vocoder


def ort_run(path, mel: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["wav"], {"mel": mel})[0]


@pytest.fixture(scope="module")
def v3_graphs(tmp_path_factory, fixtures):
    """A v3 BigVGAN in upstream's file layout (config.json + bigvgan_generator.pt with weight norm; reduced width),
    exported through the CLI at fp32 and fp16. Exports of BigVGAN cost ~40 s each on a CPU, so tests share them."""
    out = tmp_path_factory.mktemp("v3")
    paths = {}
    for precision in ("fp32", "fp16"):
        paths[precision] = out / f"{precision}.onnx"
        args = ["export", "--version", "v3", "--weights", str(fixtures / "v3_small"), "--precision", precision]
        assert main([*args, "--out", str(paths[precision])]) == 0
    return load_vocoder("v3", fixtures / "v3_small"), paths


@pytest.fixture(scope="module")
def v4_fp32(tmp_path_factory):
    loaded = load_vocoder("v4")
    return loaded, export_onnx(loaded, tmp_path_factory.mktemp("onnx") / "v4.onnx")


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_fp32_graph_matches_pytorch_at_several_lengths_and_batches(v3_graphs, v4_fp32, version):
    loaded, path = v4_fp32 if version == "v4" else (v3_graphs[0], v3_graphs[1]["fp32"])
    rng = np.random.default_rng(0)
    for frames in (1, 9, 64):
        for batch in (1, 2):
            mel = rng.normal(-5, 2.5, size=(batch, 100, frames)).astype(np.float32)
            with torch.no_grad():
                ref = loaded.model(torch.from_numpy(mel)).numpy()
            out = ort_run(path, mel)
            assert out.shape == (batch, 1, loaded.spec.hop * frames)
            assert np.abs(out - ref).max() <= 1e-4


def test_graph_contract(v4_fp32):
    _, path = v4_fp32
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert (inp.name, dims(inp), inp.type.tensor_type.elem_type) == ("mel", ["batch", 100, "frames"], 1)
    assert (out.name, dims(out), out.type.tensor_type.elem_type) == ("wav", ["batch", 1, "480*frames"], 1)
    assert read_metadata(path)["weights"] == "random"
    assert "RANDOM weights" in model.doc_string


def test_activation_exports_without_expand_of_unknown_shape(v3_graphs):
    ops = {n.op_type for n in onnx.load(str(v3_graphs[1]["fp32"])).graph.node}
    assert {"ConvTranspose", "Sin", "Pad"} <= ops and "Expand" not in ops


@pytest.fixture(scope="module")
def v3_bf16(tmp_path_factory, v3_graphs):
    return export_onnx(v3_graphs[0], tmp_path_factory.mktemp("bf16") / "bf16.onnx", "bf16")


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_graph_is_strongly_typed_with_fp32_io(v3_graphs, v3_bf16, precision):
    path = v3_bf16 if precision == "bf16" else v3_graphs[1]["fp16"]
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    low = {"fp16": onnx.TensorProto.FLOAT16, "bf16": onnx.TensorProto.BFLOAT16}[precision]
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    weight_types = {i.data_type for i in model.graph.initializer if i.name in conv_weights}
    assert low in weight_types and onnx.TensorProto.FLOAT in weight_types  # fp32 islands keep conv_post fp32
    sin_inputs = {n.input[0] for n in model.graph.node if n.op_type == "Sin"}
    value_types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    assert {value_types[name] for name in sin_inputs} == {onnx.TensorProto.FLOAT}  # SnakeBeta island
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert read_metadata(path)["fp32_islands"] == {"fp16": "snake,output", "bf16": "snake,upsample,output"}[precision]


def test_islands_can_be_turned_off(tmp_path):
    path = export_onnx(load_vocoder("v4"), tmp_path / "x.onnx", "fp16", fp32_islands=False)
    model = onnx.load(str(path))
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    assert {i.data_type for i in model.graph.initializer if i.name in conv_weights} == {onnx.TensorProto.FLOAT16}
    assert read_metadata(path)["fp32_islands"] == ""


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v3", "v4"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cli_export_then_check_random_weights(tmp_path, capsys, version, precision):
    out = tmp_path / f"{version}-{precision}.onnx"
    assert main(["export", "--version", version, "--precision", precision, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "RANDOM weights" in captured.out and "RANDOM weights" in captured.err
    assert main(["check", str(out), "--frames", "1,7,40"]) == 0
    printed = capsys.readouterr().out
    assert "PASSED" in printed and "tolerance:" in printed and "speech" in printed


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cli_check_of_v3_exported_from_upstream_layout(v3_graphs, capsys, precision):
    assert main(["check", str(v3_graphs[1][precision]), "--frames", "1,40"]) == 0
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("layout", ["v4 vocoder.pth", "gpt-sovits root"])
def test_cli_export_then_check_v4_upstream_layouts(tmp_path, capsys, layout):
    # full-size v4 in upstream's vocoder.pth format, inside a GPT-SoVITS checkout for the root case
    pth = tmp_path / "GPT_SoVITS" / "pretrained_models" / "gsv-v4-pretrained" / "vocoder.pth"
    pth.parent.mkdir(parents=True)
    torch.save(build_model("v4").state_dict(), pth)
    args = ["--version", "v4"] + (["--weights", str(pth)] if layout == "v4 vocoder.pth"
                                  else ["--gpt-sovits-root", str(tmp_path)])
    for precision in ("fp32", "fp16"):
        out = tmp_path / f"{precision}.onnx"
        assert main(["export", *args, "--precision", precision, "--out", str(out)]) == 0
        assert "sha256" in capsys.readouterr().out
        assert main(["check", str(out), "--frames", "1,40"]) == 0
        assert "PASSED" in capsys.readouterr().out


def test_check_refuses_reference_weights_other_than_the_graphs(tmp_path, fixtures, v3_graphs, capsys):
    weights = tmp_path / "bigvgan"
    shutil.copytree(fixtures / "v3_small", weights)
    state = torch.load(weights / "bigvgan_generator.pt", weights_only=True)
    state["generator"]["conv_post.weight_v"] *= 1.01
    torch.save(state, weights / "bigvgan_generator.pt")
    code = main(["check", str(v3_graphs[1]["fp32"]), "--weights", str(weights), "--frames", "8", "--batches", "1"])
    assert code == 2 and "exported from weights" in capsys.readouterr().err


def test_check_fails_on_a_tampered_graph(tmp_path, v3_graphs, capsys):
    """Same metadata and weights, one conv weight in the graph scaled by 2%: the comparison must fail."""
    path = tmp_path / "v3.onnx"
    model = onnx.load(str(v3_graphs[1]["fp32"]))
    post = next(n for n in reversed(model.graph.node) if n.op_type == "Conv").input[1]
    init = next(i for i in model.graph.initializer if i.name == post)
    init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 1.02, post))
    onnx.save(model, str(path))
    assert main(["check", str(path), "--frames", "8", "--batches", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "FAILED" in out


def test_bf16_check_says_why_it_cannot_run_on_cpu(v3_bf16, capsys):
    code = main(["check", str(v3_bf16), "--frames", "8", "--batches", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no bf16 kernel" in err
