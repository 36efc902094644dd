"""``NAME.json`` beside ``NAME.plan``: what the engine is, what it was built from, and the cache key.

A serialized engine says nothing about the model, weights or profiles inside it and is tied to one TensorRT
version and a set of GPUs. The sidecar records all of that so that (1) the runtime can refuse an engine before
TensorRT tries to deserialize it, (2) ``gsv-trt engine`` rebuilds only when an input changed, and (3) a person can
tell engines apart. The cache key is a sha256 over exactly the build inputs (``KEY_FIELDS``); paths, timings and
the plan's own hash are outside it. The plan's sha256 ties the sidecar to one plan file, so a sidecar copied from
another engine, or a plan rebuilt or edited without its sidecar, is caught.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import GsvTrtError

FORMAT = "gsv-trt-engine/1"
# The build inputs: change any and the engine must be rebuilt.
KEY_FIELDS = ("model", "onnx_sha256", "precision", "fp32_islands", "profiles", "tensorrt", "targets", "options")
REQUIRED = ("format", "cache_key", *KEY_FIELDS, "engine", "io", "sources", "build")


def sidecar_path(plan: str | Path) -> Path:
    return Path(plan).with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(inputs: dict) -> str:
    """sha256 over the canonical JSON of the build inputs (``KEY_FIELDS`` of ``inputs``)."""
    material = {k: inputs[k] for k in KEY_FIELDS}
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def changed_inputs(old: dict, new: dict) -> list[str]:
    """Which build inputs differ, for "rebuilding: ... changed"."""
    return [k for k in KEY_FIELDS if old.get(k) != new.get(k)]


def write_sidecar(plan: str | Path, sidecar: dict) -> Path:
    path = sidecar_path(plan)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_sidecar(plan: str | Path) -> dict:
    """The sidecar of ``plan``, checked for completeness and for belonging to this plan file."""
    plan, path = Path(plan), sidecar_path(plan)
    if not plan.exists():
        raise GsvTrtError(f"{plan}: no such engine file")
    if not path.exists():
        raise GsvTrtError(f"{path}: missing; every engine needs its sidecar (rebuild with `gsv-trt build` or "
                          "`gsv-trt engine`)")
    try:
        sidecar = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GsvTrtError(f"{path}: not valid JSON ({e})") from None
    problem = sidecar_problem(sidecar)
    if problem:
        raise GsvTrtError(f"{path}: {problem}")
    plan_problem = plan_mismatch(plan, sidecar)
    if plan_problem:
        raise GsvTrtError(f"{path}: {plan_problem}")
    return sidecar


def sidecar_problem(sidecar: object) -> str | None:
    """What makes ``sidecar`` unusable (wrong format, fields missing, key not matching its inputs), or None."""
    if not isinstance(sidecar, dict):
        return "not a gsv-trt engine sidecar (expected a JSON object)"
    if sidecar.get("format") != FORMAT:
        return f"format {sidecar.get('format')!r} is not {FORMAT!r} (written by another gsv-trt version?); rebuild"
    missing = [k for k in REQUIRED if k not in sidecar]
    if missing:
        return f"incomplete sidecar, missing {', '.join(missing)}; rebuild"
    if cache_key(sidecar) != sidecar["cache_key"]:
        return "cache_key does not match the build inputs recorded beside it (edited by hand?); rebuild"
    return None


def plan_mismatch(plan: Path, sidecar: dict) -> str | None:
    """Why ``plan`` is not the engine this sidecar describes (size or sha256), with the command that rebuilds it;
    None when it is."""
    engine = sidecar["engine"]
    size = plan.stat().st_size
    if size != engine.get("bytes"):
        return (f"describes a {engine.get('bytes')}-byte engine but {plan.name} has {size} bytes: the plan was "
                f"truncated or replaced (or the sidecar belongs to another engine); rebuild: "
                f"{rebuild_command(plan, sidecar)}")
    if sha256_file(plan) != engine.get("sha256"):
        return (f"sha256 of {plan.name} differs from the one recorded: the plan was modified or replaced (or the "
                f"sidecar belongs to another engine); rebuild: {rebuild_command(plan, sidecar)}")
    return None


def rebuild_command(plan: Path, sidecar: dict) -> str:
    """The command that builds ``plan`` again: from its ONNX when that is still there, else the whole ``engine``
    step with the same weights (same file name when the plan has the standard name)."""
    flavour = sidecar["tensorrt"]["flavour"]
    onnx = Path(sidecar["sources"]["onnx"])
    if onnx.exists():
        return f"gsv-trt build {onnx} --out {plan} --trt {flavour} --force"
    model, weights = sidecar["model"], sidecar["sources"]["weights"]
    if "vocoder" in model:
        version, stage, option = model["vocoder"], "vocoder", "--weights"
    else:
        version, stage, option = model["version"], "cfm", "--sovits-weights"
    weights_arg = "" if weights == "random" else f" {option} {weights}"
    return (f"gsv-trt engine --version {version} --precision {sidecar['precision']} --stage {stage}{weights_arg} "
            f"--out-dir {plan.parent} --trt {flavour} --force")


def reuse_reason(plan: str | Path, wanted: dict) -> tuple[bool, str]:
    """Whether the engine at ``plan`` can be reused for the build inputs ``wanted``, and why (or why not)."""
    plan = Path(plan)
    if not plan.exists():
        return False, "no engine yet"
    try:
        old = read_sidecar(plan)
    except GsvTrtError as e:
        return False, f"existing engine is unusable: {e}"
    if old["cache_key"] != cache_key(wanted):
        return False, f"{', '.join(changed_inputs(old, wanted))} changed"
    return True, "inputs unchanged"
