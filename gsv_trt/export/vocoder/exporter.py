"""``torch.onnx.export`` (dynamo) with dynamic batch and frames, then onnx.checker with full shape inference.

The anti-aliased activation exports as constant per-channel FIR weights (see models/resample.py), so the graph is
plain Conv / ConvTranspose / Pad(edge) / Sin / Pow and parses in TensorRT without plugins.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch.export import Dim

from ... import __version__
from ...errors import GsvTrtError
from ...models.vocoder import LoadedVocoder
from ..metadata import write_metadata
from .precision import with_precision

INPUT, OUTPUT = "mel", "wav"
OPSET = {"fp32": 18, "fp16": 18, "bf16": 22}  # bfloat16 Conv/ConvTranspose exist in the ONNX spec from opset 22
TRACE_FRAMES = 32


def export_onnx(loaded: LoadedVocoder, out: str | Path, precision: str = "fp32", fp32_islands: bool = True) -> Path:
    """Write ``out`` (atomically: a failed export leaves any previous file untouched) and return its path."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise GsvTrtError(f"{out}: the output file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    wrapped, islands = with_precision(loaded.model, loaded.spec.version, precision, fp32_islands)
    mel = torch.randn(1, 100, TRACE_FRAMES)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with quiet_exporter():
            torch.onnx.export(
                wrapped, (mel,), str(tmp), dynamo=True, opset_version=OPSET[precision], input_names=[INPUT],
                output_names=[OUTPUT], external_data=False, verbose=False,
                dynamic_shapes={"mel": {0: Dim("batch"), 2: Dim("frames")}},
            )
        model = onnx.load(str(tmp))
        name_dims(model, loaded.spec.hop)
        write_metadata(model, {
            "gsv_trt_version": __version__, "vocoder": loaded.spec.version, "precision": precision,
            "fp32_islands": ",".join(islands), "weights": loaded.weights, "weights_sha256": loaded.weights_sha256,
            "hop": loaded.spec.hop, "sample_rate": loaded.spec.sample_rate, "opset": OPSET[precision],
        })
        model.doc_string = f"GPT-SoVITS {loaded.spec.version} vocoder, {precision}, {loaded.provenance}"
        onnx.save(model, str(tmp))
        validate_graph(tmp, loaded.spec.hop)
        tmp.chmod(0o644)  # mkstemp makes it private; other runtimes (Triton) read it
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


@contextlib.contextmanager
def quiet_exporter():
    """The dynamo exporter narrates every step on stdout and warns about unrelated optional packages."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def name_dims(model: onnx.ModelProto, hop: int) -> None:
    """Readable symbolic dims for other runtimes (Triton, trtexec): mel [batch,100,frames], wav [batch,1,hop*frames]."""
    (inp,), (outp,) = model.graph.input, model.graph.output
    in_dims, out_dims = inp.type.tensor_type.shape.dim, outp.type.tensor_type.shape.dim
    in_dims[0].dim_param, in_dims[2].dim_param = "batch", "frames"
    out_dims[0].dim_param, out_dims[2].dim_param = "batch", f"{hop}*frames"


def validate_graph(path: Path, hop: int) -> None:
    """onnx.checker with full (strict) shape inference, and the I/O contract every later stage relies on."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise GsvTrtError(f"{path}: exported graph fails onnx.checker: {str(e).splitlines()[0]}") from None
    model = onnx.load(str(path), load_external_data=False)
    ios = [(v.name, v.type.tensor_type) for v in (*model.graph.input, *model.graph.output)]
    expected = [(INPUT, ["batch", 100, "frames"]), (OUTPUT, ["batch", 1, f"{hop}*frames"])]
    for (name, ttype), (want_name, want_dims) in zip(ios, expected):
        dims = [d.dim_param or d.dim_value for d in ttype.shape.dim]
        if name != want_name or ttype.elem_type != onnx.TensorProto.FLOAT or dims != want_dims:
            raise GsvTrtError(f"{path}: unexpected I/O {name} {dims} (want {want_name} {want_dims} float32)")
