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

    from ..export.metadata import ANY, read_metadata

    meta = read_metadata(path, ANY)
    header = ", ".join(f"{k}={v}" for k, v in meta.items())
    return f"{path}: {header}\n" + str_from_onnx(onnx_from_path(str(path)), show_layers=True, show_attrs=attrs)


def inspect_plan(path: Path, attrs: bool) -> str:
    """Deserialize with the flavour the sidecar names, or, for a plan without one (made by trtexec, say), with each
    TensorRT flavour installed here; TensorRT needs a GPU it supports to deserialize at all."""
    from ..build.flavour import NAMES, import_flavour
    from ..build.sidecar import read_sidecar, sidecar_path
    from ..errors import GsvTrtError

    if sidecar_path(path).exists():
        sidecar = read_sidecar(path)
        flavour = import_flavour(sidecar["tensorrt"]["flavour"])
        engine = deserialize(flavour, path)
        if engine is None:
            raise GsvTrtError(f"{path}: {flavour.label} could not deserialize this engine here (it needs a GPU of "
                              f"compute capability {', '.join(sidecar['targets'].get('compute_capabilities', []))}"
                              " with a working driver); the sidecar beside it describes the build")
        return f"{path}: {sidecar['model']}\n" + engine_layers(flavour, engine, attrs)
    missing = f"no sidecar ({sidecar_path(path).name}) beside it, so how it was built is unknown (made by trtexec?)"
    tried = []
    for name in NAMES:
        try:
            flavour = import_flavour(name)
        except GsvTrtError as e:
            tried.append(str(e).split(";")[0])
            continue
        engine = deserialize(flavour, path)
        if engine is not None:
            return f"{path}: {missing}; deserialized by {flavour.label}\n" + engine_layers(flavour, engine, attrs)
        tried.append(f"{flavour.label} could not deserialize it here")
    raise GsvTrtError(f"{path}: {missing}; {'; '.join(tried)} (an engine deserializes only with the TensorRT "
                      "flavour and version that built it, on a GPU it was built for)")


def deserialize(flavour, path: Path):
    """The engine, or None when this flavour cannot deserialize it here (wrong flavour or version, no GPU)."""
    runtime = flavour.trt.Runtime(flavour.trt.Logger(flavour.trt.Logger.INTERNAL_ERROR))
    return runtime.deserialize_cuda_engine(path.read_bytes())


def engine_layers(flavour, engine, attrs: bool) -> str:
    import polygraphy.config
    from polygraphy.logger import G_LOGGER

    polygraphy.config.USE_TENSORRT_RTX = flavour.name == "rtx"
    G_LOGGER.module_severity = G_LOGGER.ERROR
    from polygraphy.backend.trt.util import str_from_engine

    return str_from_engine(engine, show_layers=True, show_attrs=attrs)


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
