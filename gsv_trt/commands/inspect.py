"""gsv-trt inspect: the layers of an ONNX graph or a TensorRT engine, through Polygraphy."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import GsvTrtError
from ._common import add_command


def register(sub) -> None:
    p = add_command(sub, "inspect", "show the layers of an .onnx graph or a .plan engine (Polygraphy)", run)
    p.add_argument("model", type=Path, help="an .onnx file (gsv-trt export) or a .plan engine (gsv-trt build)")
    p.add_argument("--attrs", action="store_true", help="also show layer attributes")


def inspect_onnx(path: Path, attrs: bool) -> str:
    from polygraphy.backend.onnx import onnx_from_path
    from polygraphy.backend.onnx.util import str_from_onnx

    from ..export.metadata import read_metadata

    meta = read_metadata(path)
    header = ", ".join(f"{k}={v}" for k, v in meta.items())
    return f"{path}: {header}\n" + str_from_onnx(onnx_from_path(str(path)), show_layers=True, show_attrs=attrs)


def inspect_plan(path: Path, attrs: bool) -> str:
    """Deserialize with the flavour the sidecar names; TensorRT needs a GPU it supports to deserialize at all."""
    import polygraphy.config
    from polygraphy.logger import G_LOGGER

    from ..build.flavour import import_flavour
    from ..build.sidecar import read_sidecar

    sidecar = read_sidecar(path)
    flavour = import_flavour(sidecar["tensorrt"]["flavour"])
    polygraphy.config.USE_TENSORRT_RTX = flavour.name == "rtx"
    G_LOGGER.module_severity = G_LOGGER.ERROR
    from polygraphy.backend.trt.util import str_from_engine

    runtime = flavour.trt.Runtime(flavour.trt.Logger(flavour.trt.Logger.INTERNAL_ERROR))
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise GsvTrtError(f"{path}: {flavour.label} could not deserialize this engine here (it needs "
                          f"a GPU of compute capability {', '.join(sidecar['targets'].get('compute_capabilities', []))}"
                          " with a working driver); the sidecar beside it describes the build")
    return f"{path}: {sidecar['model']}\n" + str_from_engine(engine, show_layers=True, show_attrs=attrs)


def run(args: argparse.Namespace) -> int:
    path: Path = args.model
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file")
    if path.suffix == ".onnx":
        print(inspect_onnx(path, args.attrs))
    elif path.suffix == ".plan":
        print(inspect_plan(path, args.attrs))
    else:
        raise GsvTrtError(f"{path}: expected an .onnx graph or a .plan engine")
    return 0
