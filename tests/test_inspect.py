"""gsv-trt inspect lists a graph's layers through Polygraphy, and explains when an engine cannot be opened here."""


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
