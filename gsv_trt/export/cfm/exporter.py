"""The CFM's DiT as two ONNX graphs with dynamic batch and frames (``torch.onnx.export``, dynamo), each checked by
onnx.checker with full shape inference:

- ``cfm-condition``: ``mu`` [B, T, text_dim], ``dt`` [B] -> ``text`` [B, T, text_dim], ``dt_emb`` [B, dim]; run
  once per CFM call (upstream's conditioner cache: the text and step-size embeddings do not change between steps)
- ``cfm-step``: ``x``, ``prompt_x`` [B, 100, T], ``t`` [B], ``text``, ``dt_emb`` -> ``v`` [B, 100, T]; one
  estimator call per Euler step

Inputs and outputs are fp32 at every precision. Each graph's metadata names its partner file (``pair``), the DiT
config, the weights (sha256 of the merged ``cfm.*`` tensors) and the fp32 islands. At fp32 the full model's graph
is ~1.35 GB, below protobuf's 2 GB limit, so each graph is one self-contained file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.export import Dim

from ... import __version__
from ...errors import GsvTrtError
from ...models.cfm.config import DiTConfig
from ..metadata import IO_NAMES, write_metadata
from ..vocoder.exporter import quiet_exporter
from .precision import DEFAULT_ISLANDS, Fp32Softmax, with_precision

OPSET = {"fp32": 18, "fp16": 18, "bf16": 22}
TRACE_BATCH, TRACE_FRAMES = 3, 37  # sizes unlike any fixed dim, so the exporter cannot confuse them
PROTOBUF_LIMIT = 2**31 - 1


class ConditionGraph(nn.Module):
    """fp32 mu, dt -> conditioning in fp32, computed in ``dtype``."""

    def __init__(self, dit: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.text_embed, self.d_embed, self.dtype = dit.text_embed, dit.d_embed, dtype

    def forward(self, mu: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_embed(mu.to(self.dtype)).float(), self.d_embed(dt.to(self.dtype)).float()


class StepGraph(nn.Module):
    """fp32 in, one estimator step computed in ``dtype`` (softmax in fp32 when asked), fp32 v out."""

    def __init__(self, dit: nn.Module, dtype: torch.dtype, fp32_softmax: bool):
        super().__init__()
        self.dit, self.dtype, self.fp32_softmax = dit, dtype, fp32_softmax

    def forward(self, x, prompt_x, t, text, dt_emb) -> torch.Tensor:
        mode = Fp32Softmax() if self.fp32_softmax else contextlib.nullcontext()
        with mode:
            v = self.dit.step(*(a.to(self.dtype) for a in (x, prompt_x, t, text, dt_emb)))
        return v.float()


def trace_inputs(cfg: DiTConfig) -> dict[str, tuple[tuple, dict]]:
    """Example inputs and dynamic axes of both graphs."""
    b, t = TRACE_BATCH, TRACE_FRAMES
    batch, frames = Dim("batch", min=1, max=64), Dim("frames", min=1, max=cfg.max_pos)
    cond = ((torch.randn(b, t, cfg.text_dim), torch.full((b,), 0.125)),
            {"mu": {0: batch, 1: frames}, "dt": {0: batch}})
    step = ((torch.randn(b, cfg.mel_dim, t), torch.randn(b, cfg.mel_dim, t), torch.rand(b),
             torch.randn(b, t, cfg.text_dim), torch.randn(b, cfg.dim)),
            {"x": {0: batch, 2: frames}, "prompt_x": {0: batch, 2: frames}, "t": {0: batch},
             "text": {0: batch, 1: frames}, "dt_emb": {0: batch}})
    return {"cfm-condition": cond, "cfm-step": step}


def pair_paths(out: str | Path) -> tuple[Path, Path]:
    """(condition, step) paths for ``out``, the step graph's path: ``...cfm-step...`` pairs with
    ``...cfm-condition...``; any other name with ``<stem>-condition.onnx``."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise GsvTrtError(f"{out}: the output file must end in .onnx")
    if "cfm-step" in out.name:
        return out.with_name(out.name.replace("cfm-step", "cfm-condition")), out
    return out.with_name(f"{out.stem}-condition.onnx"), out


def export_cfm(loaded, out: str | Path, precision: str = "fp32",
               islands: tuple[str, ...] | None = None) -> tuple[Path, Path]:
    """Write the conditioner and step graphs of ``loaded`` (a LoadedCFM) beside ``out`` (the step graph's path),
    atomically: a failed export leaves previous files untouched. ``islands``: default the precision's. Returns
    (condition, step) paths."""
    paths = pair_paths(out)
    dit = loaded.model.estimator
    cfg: DiTConfig = dit.cfg
    islands = resolve_islands(precision, islands)
    model, dtype = with_precision(dit, precision, islands)
    graphs = {"cfm-condition": ConditionGraph(model, dtype), "cfm-step": StepGraph(model, dtype, "softmax" in islands)}
    paths[1].parent.mkdir(parents=True, exist_ok=True)
    tmps = []
    try:
        for (component, (args, dynamic)), path, partner in zip(trace_inputs(cfg).items(), paths, paths[::-1]):
            proto = to_onnx(graphs[component].eval(), args, dynamic, component, precision)
            write_metadata(proto, {
                "gsv_trt_version": __version__, "component": component, "version": loaded.version,
                "precision": precision, "fp32_islands": ",".join(used_islands(component, islands)),
                "weights": loaded.weights, "weights_sha256": loaded.weights_sha256, "opset": OPSET[precision],
                "cfm_config": cfg.to_dict(), "pair": partner.name,
            })
            proto.doc_string = f"GPT-SoVITS {loaded.version} CFM {component}, {precision}, {loaded.provenance}"
            tmps.append(save_checked(proto, path, component))
        for tmp, path in zip(tmps, paths):
            tmp.replace(path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return paths


def resolve_islands(precision: str, islands: tuple[str, ...] | None) -> tuple[str, ...]:
    """The islands an export at ``precision`` gets: none at fp32, else ``islands`` or the precision's default."""
    if precision == "fp32":
        return ()
    return DEFAULT_ISLANDS[precision] if islands is None else tuple(islands)


def used_islands(component: str, islands: tuple[str, ...]) -> tuple[str, ...]:
    """The islands that exist in ``component``'s graph (GRN is in the conditioner, the rest in the step)."""
    here = ("norm", "grn") if component == "cfm-condition" else ("norm", "adaln", "rope", "softmax", "mish")
    return tuple(i for i in islands if i in here)


def to_onnx(graph: nn.Module, args: tuple, dynamic: dict, component: str, precision: str) -> onnx.ModelProto:
    inputs, outputs = IO_NAMES[component]
    with torch.inference_mode(False), torch.no_grad(), quiet_exporter():
        program = torch.onnx.export(graph, args, dynamo=True, opset_version=OPSET[precision], input_names=inputs,
                                    output_names=outputs, dynamic_shapes=dynamic, verbose=False)
    proto = program.model_proto
    name_dims(proto)
    return proto


def name_dims(model: onnx.ModelProto) -> None:
    """Every dynamic dim is "batch" or "frames" (the exporter names them after the Dims, or s0/s1 in some
    versions): the builder and other runtimes (Triton, trtexec) read the profiles' axes from these names."""
    symbols: dict[str, str] = {}
    for value in model.graph.input:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param:
                symbols[dim.dim_param] = "batch" if axis == 0 else "frames"
    for value in (*model.graph.input, *model.graph.output):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in symbols:
                dim.dim_param = symbols[dim.dim_param]


def save_checked(model: onnx.ModelProto, path: Path, component: str) -> Path:
    """Save ``model`` to a temporary file beside ``path``, check it, and return the temporary file."""
    size = model.ByteSize()
    if size > PROTOBUF_LIMIT:
        raise GsvTrtError(f"{path}: graph of {size / 2**30:.2f} GiB exceeds protobuf's 2 GiB limit")
    fd, name = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        onnx.save(model, str(tmp))
        tmp.chmod(0o644)  # mkstemp makes it private; other runtimes (Triton) read it
        validate_graph(tmp, component)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def validate_graph(path: Path, component: str) -> None:
    """onnx.checker with full (strict) shape inference, and the I/O contract the builder and runtimes rely on:
    names in order, float32, batch first."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise GsvTrtError(f"{path}: exported graph fails onnx.checker: {str(e).splitlines()[0]}") from None
    model = onnx.load(str(path), load_external_data=False)
    names = (tuple(v.name for v in model.graph.input), tuple(v.name for v in model.graph.output))
    for value in (*model.graph.input, *model.graph.output):
        ttype = value.type.tensor_type
        first = ttype.shape.dim[0].dim_param if ttype.shape.dim else None
        if ttype.elem_type != onnx.TensorProto.FLOAT or first != "batch":
            raise GsvTrtError(f"{path}: {value.name} is not float32 [batch, ...]")
    if names != IO_NAMES[component]:
        raise GsvTrtError(f"{path}: I/O {names} is not the {component} contract {IO_NAMES[component]}")
