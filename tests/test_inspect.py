"""gsv-trt inspect lists a graph's layers through Polygraphy, and explains when an engine cannot be opened here."""

import pytest
import torch

from gsv_trt.cli import main
from gsv_trt.export.vocoder.exporter import export_onnx
from gsv_trt.models.vocoder import load_vocoder


def test_inspect_onnx_shows_io_and_layers(tmp_path, capsys):
    path = export_onnx(load_vocoder("v4"), tmp_path / "v4.onnx", "fp16")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "vocoder=v4" in out and "precision=fp16" in out and "weights=random" in out
    assert "mel [dtype=float32, shape=('batch', 100, 'frames')]" in out
    assert "ConvTranspose" in out and "Cast" in out


def test_inspect_refuses_other_files(tmp_path, capsys):
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert main(["inspect", str(other)]) == 2
    assert "expected an .onnx graph or a .plan engine" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.plan")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_inspect_onnx_not_made_by_us(tmp_path, capsys):
    import onnx
    from onnx import helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "relu.onnx"))
    assert main(["inspect", str(tmp_path / "relu.onnx")]) == 2
    assert "not exported by gsv-trt" in capsys.readouterr().err


def test_inspect_plan_without_sidecar_says_so_and_tries_what_is_installed(tmp_path, capsys):
    plan = tmp_path / "from_trtexec.plan"
    plan.write_bytes(b"\x00" * 4096)  # no sidecar beside it; not deserializable anywhere
    assert main(["inspect", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "no sidecar (from_trtexec.json) beside it" in err and "made by trtexec?" in err
    assert "could not deserialize it here" in err or "not importable" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_inspect_plan_made_outside_gsv_trt(tmp_path, capsys):
    trt = pytest.importorskip("tensorrt", reason="full TensorRT not installed (pip install -e '.[tensorrt]')")
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    x = network.add_input("x", trt.float32, (1, 8))
    network.mark_output(network.add_activation(x, trt.ActivationType.RELU).get_output(0))
    plan = tmp_path / "relu.plan"
    plan.write_bytes(bytes(builder.build_serialized_network(network, builder.create_builder_config())))
    assert main(["inspect", str(plan)]) == 0
    out = capsys.readouterr().out
    assert "no sidecar (relu.json)" in out and "deserialized by TensorRT" in out and "Activation" in out
