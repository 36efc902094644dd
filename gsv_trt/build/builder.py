"""ONNX -> TensorRT engine with the builder API: ONNX parser, strongly typed network (the ONNX's own types decide
precision, as TensorRT 11 and TensorRT-RTX require), optimization profiles over batch and frames, and the sidecar.
Any graph ``gsv-trt export`` writes builds here: the vocoder and the CFM's two graphs (the metadata says which).

``ensure_engine`` is the cached entry point: it works out the build inputs first (ONNX sha256, weights, precision,
profiles, TensorRT flavour and version, targets) and rebuilds only when they differ from the existing sidecar's. It
never replaces an engine built from other weights unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import __version__
from ..errors import GsvTrtError
from ..export.artifacts import describe_weights, replacement_problem
from ..export.metadata import ANY, IO_NAMES, input_dims, model_version, read_metadata
from .flavour import LABELS, Flavour, choose
from .profiles import CFM_WHY, WHY, Profile, cfm_profiles, make_profiles
from .progress import BuildConsole
from .sidecar import FORMAT, cache_key, read_sidecar, reuse_reason, sha256_file, sidecar_path, write_sidecar


@dataclass(frozen=True)
class BuildOptions:
    """How to build; each field that shapes the engine is part of the cache key."""

    trt: str = "auto"  # auto | tensorrt | rtx
    profiles: tuple[Profile, ...] | None = None  # None: the component's defaults (``default_profiles``)
    workspace_bytes: int | None = None  # builder workspace memory-pool limit; None = TensorRT's default
    target_ccs: tuple[str, ...] = ()  # TensorRT-RTX targets ("8.6", "current"); () = its default set
    tf32: bool = False  # allow TF32 for fp32 layers (faster, ~1e-3 relative error); off: fp32 means fp32
    timing_cache: Path | None = None  # full TensorRT only (TensorRT-RTX has none); None = no persistent cache


class GpuTarget(Protocol):
    """The GPU present at build time, as far as building cares; ``runtime.cuda.GpuInfo`` is one."""

    name: str

    @property
    def cc(self) -> str: ...  # "8.6"

    def describe(self) -> str: ...


def cannot_run_note(sidecar: dict, gpu: GpuTarget | None) -> str | None:
    """A note when an engine (its sidecar) is not for ``gpu``, the GPU here; None when it is or there is none."""
    from .flavour import RTX_RUNS_ON

    targets = sidecar["targets"]["compute_capabilities"]
    if gpu is None or gpu.cc in targets:
        return None
    why = ("TensorRT-RTX does not run on it" if gpu.cc not in RTX_RUNS_ON
           else f"rebuild with --target-cc {gpu.cc} to run it here")
    return f"note: this engine is for compute capability {', '.join(targets)}; this GPU ({gpu.describe()}) " \
           f"cannot run it ({why})"


@dataclass
class BuildPlan:
    """Everything decided before building: which TensorRT, for what, from what; ``inputs`` makes the cache key."""

    onnx: Path
    flavour: Flavour
    meta: dict
    inputs: dict
    options: BuildOptions
    gpu: GpuTarget | None
    profiles: tuple[Profile, ...]


def default_profiles(component: str, version: str) -> list[Profile]:
    """The profiles an engine of ``component`` gets unless the user sizes them (see profiles.py for why)."""
    if component == "vocoder":
        return make_profiles()
    from ..models.cfm.config import CFM_SHAPES

    return cfm_profiles(CFM_SHAPES[version][1])


def model_fields(meta: dict) -> dict:
    """The sidecar's ``model``: what the engine computes and from which weights."""
    if meta["component"] == "vocoder":
        return {"vocoder": meta["vocoder"], "hop": int(meta["hop"]), "sample_rate": int(meta["sample_rate"]),
                "weights_sha256": meta["weights_sha256"]}
    return {"component": meta["component"], "version": meta["version"], "config": json.loads(meta["cfm_config"]),
            "pair": meta["pair"], "weights_sha256": meta["weights_sha256"]}


def resolve_targets(flavour: Flavour, requested: tuple[str, ...], gpu: GpuTarget | None, precision: str) -> dict:
    """The GPUs the engine is for. Full TensorRT: the build GPU. TensorRT-RTX: a list of compute capabilities."""
    if flavour.name == "tensorrt":
        if requested:
            raise GsvTrtError("--target-cc applies to --trt rtx; full TensorRT builds for the GPU it runs on"
                              + (f" ({gpu.name}, {gpu.cc})" if gpu else ""))
        assert gpu is not None  # choose() refuses full TensorRT without a GPU
        return {"compute_capabilities": [gpu.cc], "gpu": gpu.name}
    ccs = []
    for cc in requested or flavour.default_ccs():
        if cc == "current":
            if gpu is None:
                raise GsvTrtError("--target-cc current: no GPU here; name compute capabilities, e.g. 8.6,8.9")
            cc = gpu.cc
        flavour.cc_enum(cc)  # refuses one this TensorRT-RTX cannot target
        if cc not in ccs:
            ccs.append(cc)
    if precision == "bf16" and "7.5" in ccs:
        raise GsvTrtError("bf16 engines cannot target compute capability 7.5 (Turing has no bf16); use fp16")
    return {"compute_capabilities": sorted(ccs, key=lambda c: tuple(map(int, c.split(".")))), "gpu": None}


def plan_build(onnx: str | Path, options: BuildOptions, gpu: GpuTarget | None) -> BuildPlan:
    """Read the ONNX's metadata, pick the TensorRT, resolve targets, and assemble the build inputs."""
    onnx = Path(onnx)
    meta = read_metadata(onnx, ANY)
    flavour = choose(options.trt, gpu is not None)
    islands = [s for s in meta["fp32_islands"].split(",") if s]
    profiles = options.profiles or tuple(default_profiles(meta["component"], model_version(meta)))
    inputs = {
        "model": model_fields(meta),
        "onnx_sha256": sha256_file(onnx),
        "precision": meta["precision"],
        "fp32_islands": islands,
        "profiles": [p.to_dict() for p in profiles],
        "tensorrt": {"flavour": flavour.name, "module": flavour.trt.__name__, "version": flavour.version},
        "targets": resolve_targets(flavour, options.target_ccs, gpu, meta["precision"]),
        "options": {"workspace_bytes": options.workspace_bytes, "tf32": options.tf32},
    }
    return BuildPlan(onnx, flavour, meta, inputs, options, gpu, profiles)


def ensure_engine(onnx: str | Path, plan_path: str | Path, options: BuildOptions, gpu: GpuTarget | None,
                  console: BuildConsole, force: bool = False) -> tuple[dict, bool]:
    """Build ``plan_path`` from ``onnx`` unless an engine with the same build inputs is already there.
    Returns the sidecar and whether a build happened; says which, and why, on the console. An engine built from
    other weights is replaced only with ``force``, and the console says what was replaced."""
    plan_path = Path(plan_path)
    plan = plan_build(onnx, options, gpu)
    reusable, reason = reuse_reason(plan_path, plan.inputs)
    if reusable and not force:
        console.say(f"reusing cached engine {plan_path} ({reason})")
        return read_sidecar(plan_path), False
    held = weights_held(plan_path)
    new = (plan.meta["weights"], plan.meta["weights_sha256"])
    problem = replacement_problem(plan_path, held, new) if held else None
    if problem and not force:
        raise GsvTrtError(problem)
    if problem:
        console.say(f"replacing {plan_path}, built from {describe_weights(*held)} (--force)")
    why = "rebuilding as asked (--force)" if reusable else reason
    where = "ahead of time, no GPU here, " if gpu is None else ""
    ccs = ", ".join(plan.inputs["targets"]["compute_capabilities"])
    console.say(f"building {plan_path} with {plan.flavour.label} ({where}for compute capability {ccs}; {why})")
    return build(plan, plan_path, console), True


def weights_held(plan_path: Path) -> tuple[str, str] | None:
    """(weights, weights_sha256) of the engine at ``plan_path`` as its sidecar records them, even when the plan no
    longer matches it; None without a readable sidecar (nothing then says what the file holds)."""
    path = sidecar_path(plan_path)
    if not plan_path.exists() or not path.exists():
        return None
    try:
        sidecar = json.loads(path.read_text())
        return sidecar["sources"]["weights"], sidecar["model"]["weights_sha256"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return None


def build(plan: BuildPlan, plan_path: str | Path, console: BuildConsole) -> dict:
    """Parse, configure, build and serialize; write ``plan_path`` and its sidecar; return the sidecar."""
    plan_path = Path(plan_path)
    trt = plan.flavour.trt
    logger = console.trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(plan.flavour.network_flags())
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GsvTrtError(f"{plan.onnx}: {LABELS[plan.flavour.name]}'s ONNX parser refuses it: {errors}")
    dims = input_dims(plan.onnx)
    io = network_io(trt, network, plan.meta["component"], dims)
    config = builder.create_builder_config()
    for profile in plan.profiles:
        shapes = builder.create_optimization_profile()
        for name, input_dims_ in dims.items():
            shapes.set_shape(name, *profile.shapes_for(input_dims_))
        config.add_optimization_profile(shapes)
    if plan.options.workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.options.workspace_bytes)
    if plan.options.tf32:
        config.set_flag(trt.BuilderFlag.TF32)
    else:
        config.clear_flag(trt.BuilderFlag.TF32)
    if plan.flavour.name == "rtx":
        ccs = plan.inputs["targets"]["compute_capabilities"]
        config.num_compute_capabilities = len(ccs)
        for i, cc in enumerate(ccs):
            if not config.set_compute_capability(plan.flavour.cc_enum(cc), i):
                raise GsvTrtError(f"{plan.flavour.label} refused target compute capability {cc}")
    timing_cache = load_timing_cache(config, plan, console)
    monitor = console.progress_monitor(trt)
    config.progress_monitor = monitor
    start = time.perf_counter()
    with console.building():
        serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        error = logger.last_error() or "see log above"
        hint = ""
        if plan.meta["precision"] == "bf16" and "deconv" in error:
            hint = f" ({plan.flavour.label} has no bf16 ConvTranspose (deconvolution) for this graph; build fp16)"
        raise GsvTrtError(f"{plan.onnx}: {plan.flavour.label} build failed{hint}: {error}")
    if timing_cache is not None:
        save_timing_cache(config, timing_cache)
    engine = write_plan(plan_path, serialized)
    sidecar = {
        "format": FORMAT,
        "cache_key": cache_key(plan.inputs),
        **plan.inputs,
        "engine": engine,
        "io": io,
        "sources": {"onnx": str(plan.onnx), "weights": plan.meta["weights"],
                    "onnx_exported_by": f"gsv-trt {plan.meta['gsv_trt_version']}"},
        "build": {
            "seconds": round(seconds, 2),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host_gpu": f"{plan.gpu.name} ({plan.gpu.cc})" if plan.gpu else None,
            "gsv_trt_version": __version__,
            "timing_cache": str(timing_cache) if timing_cache else None,
        },
        "notes": {"profiles": WHY if plan.meta["component"] == "vocoder" else CFM_WHY,
                  "runs_on": runs_on_text(plan)},
    }
    write_sidecar(plan_path, sidecar)
    console.say(f"built {plan_path} ({engine['bytes'] / 2**20:.1f} MiB) in {seconds:.1f} s; sidecar "
                f"{sidecar_path(plan_path)}")
    return sidecar


def network_io(trt, network, component: str, dims: dict[str, tuple[str | int, ...]]) -> dict:
    """Names, dtypes and shapes (-1 = dynamic; inputs also with the ONNX's dim names) of the network's inputs and
    outputs, and a check of the component's contract (names, float32)."""
    def describe(tensor) -> dict:
        return {"name": tensor.name, "dtype": np.dtype(trt.nptype(tensor.dtype)).name, "shape": list(tensor.shape)}

    inputs = [describe(network.get_input(i)) for i in range(network.num_inputs)]
    io = {"inputs": [{**t, "dims": list(dims[t["name"]])} for t in inputs if t["name"] in dims],
          "outputs": [describe(network.get_output(i)) for i in range(network.num_outputs)]}
    names = (tuple(t["name"] for t in inputs), tuple(t["name"] for t in io["outputs"]))
    if names != IO_NAMES[component] or any(t["dtype"] != "float32" for t in io["inputs"] + io["outputs"]):
        want = " -> ".join(", ".join(side) for side in IO_NAMES[component])
        raise GsvTrtError(f"network I/O {io} is not {want}, float32")
    return io


def runs_on_text(plan: BuildPlan) -> str:
    targets = plan.inputs["targets"]
    if plan.flavour.name == "tensorrt":
        return (f"GPUs of compute capability {targets['compute_capabilities'][0]} like the build GPU "
                f"({targets['gpu']}), with {plan.flavour.label} exactly")
    return (f"GPUs of compute capability {', '.join(targets['compute_capabilities'])} (not Hopper 9.0), with "
            f"{plan.flavour.label} exactly; kernels compile on first use on each GPU")


def load_timing_cache(config, plan: BuildPlan, console: BuildConsole) -> Path | None:
    """Attach the persistent timing cache (full TensorRT; TensorRT-RTX has none: its builds time nothing)."""
    path = plan.options.timing_cache
    if path is None or plan.flavour.name != "tensorrt":
        return None
    blob = path.read_bytes() if path.exists() else b""
    cache = config.create_timing_cache(blob)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        console.say(f"note: timing cache {path} is from another GPU or TensorRT; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    return path


def save_timing_cache(config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    tmp.replace(path)


def write_plan(plan_path: Path, serialized) -> dict:
    """Write the serialized engine atomically; its size and sha256 for the sidecar."""
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    view = memoryview(serialized)
    tmp = plan_path.with_name(plan_path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(view)
        tmp.replace(plan_path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": plan_path.name, "bytes": view.nbytes, "sha256": hashlib.sha256(view).hexdigest()}
