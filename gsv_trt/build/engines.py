"""The files of loaded weights: their ONNX graphs (for ONNX-Runtime) and TensorRT engines, made only when missing.

One library entry point for ``gsv-trt engine`` and the synthesis stage alike: given a LoadedVocoder or LoadedCFM,
return the ``.onnx`` / ``.plan`` (+ sidecar) named by ``export.artifacts.artifact_stem`` in ``out_dir`` when they
are current, else export, check against PyTorch and build them, saying so on stderr. A graph is reused when its
metadata says it holds the same weights, precision and fp32 islands from this gsv-trt version (a graph that fails
the check is deleted, so a reused one passed it, unless exported with ``check=False``); an engine is reused when its
sidecar's build inputs match. A file of other weights is replaced only with ``force``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import GsvTrtError
from .builder import BuildOptions, GpuTarget
from .profiles import DEFAULT_MAX_BATCH, Profile, cfm_profiles, make_profiles

if TYPE_CHECKING:
    from ..models.cfm.loader import LoadedCFM
    from ..models.vocoder.loader import LoadedVocoder

# the CFM check before a build: a short call and the version's chunk, at B 1 and 3; `gsv-trt check`'s default adds
# 250 frames and the other version's chunk, at about twice the time
ENGINE_CHECK_FRAMES = {"v3": (17, 934), "v4": (17, 1000)}

OptionsFor = Callable[[str, str, Path], BuildOptions]  # (component, version, plan) -> how to build that engine


def say(line: str) -> None:
    print(line, file=sys.stderr)


def sized(workspace_bytes: int | None = None, max_batch: int | None = None) -> OptionsFor:
    """Build options with the default profiles, batch up to ``max_batch`` (GPT-SoVITS's tensorrt_max_batch_size),
    TensorRT's workspace limited to ``workspace_bytes``, the timing cache beside the engine: what ``gsv-trt engine``
    builds with the same two options, so both share one cache."""
    batch = DEFAULT_MAX_BATCH if max_batch is None else max_batch

    def options_for(component: str, version: str, plan: Path) -> BuildOptions:
        return BuildOptions(profiles=tuple(default_sized_profiles(component, version, batch)),
                            workspace_bytes=workspace_bytes, timing_cache=plan.parent / "tensorrt.timing.cache")

    return options_for


def default_sized_profiles(component: str, version: str, max_batch: int) -> list[Profile]:
    if component == "vocoder":
        return make_profiles(max_batch=max_batch)
    from ..models.cfm.config import CFM_SHAPES

    return cfm_profiles(CFM_SHAPES[version][1], max_batch=max_batch)


@dataclass(frozen=True)
class Recipe:
    """Everything besides the weights that decides the files: precision, fp32 islands, whether the graphs are
    checked, and how engines are built (``options_for``; ``gpu``: the GPU here, None on a machine without one;
    the caller asks the runtime for it, as the build stage does not import the runtime)."""

    precision: str
    options_for: OptionsFor = field(default_factory=sized)
    force: bool = False
    check: bool = True
    vocoder_islands: bool = True  # SnakeBeta and the output conv kept fp32 below fp32
    cfm_islands: tuple[str, ...] | None = None  # None: the precision's default
    gpu: GpuTarget | None = None
    verbose: bool = False
    log: Callable[[str], None] = say


def onnx_is_current(onnx: Path, wanted: dict[str, str]) -> bool:
    """Whether ``onnx`` was exported with the ``wanted`` metadata (weights, precision, islands, gsv-trt version)."""
    from ..export.metadata import ANY, read_metadata

    if not onnx.exists():
        return False
    try:
        meta = read_metadata(onnx, ANY)
    except GsvTrtError:
        return False
    return all(meta.get(k) == v for k, v in wanted.items())


def guard_replacement(path: Path, weights: str, weights_sha256: str, force: bool, log: Callable[[str], None] = say
                      ) -> None:
    """Refuse to overwrite an ONNX exported from other weights unless ``force``; say what ``force`` replaces."""
    from ..export.artifacts import describe_weights, replacement_problem
    from ..export.metadata import ANY, read_metadata

    if not path.exists():
        return
    try:
        meta = read_metadata(path, ANY)
    except GsvTrtError:
        return  # not a graph of ours: nothing says it holds weights worth keeping
    held = (meta["weights"], meta["weights_sha256"])
    problem = replacement_problem(path, held, (weights, weights_sha256))
    if problem and not force:
        raise GsvTrtError(problem)
    if problem:
        log(f"replacing {path}, exported from {describe_weights(*held)} (--force)")


def vocoder_onnx(loaded: "LoadedVocoder", out_dir: str | Path, recipe: Recipe) -> Path:
    """The checked vocoder graph of ``loaded`` in ``out_dir``: reused when current, else exported and checked."""
    from .. import __version__
    from ..export.artifacts import artifact_stem, weights_key
    from ..export.vocoder.check import check_onnx
    from ..export.vocoder.exporter import export_onnx
    from ..export.vocoder.precision import islands_for

    version = loaded.spec.version
    stem = artifact_stem(version, "vocoder", recipe.precision, weights_key(loaded.weights_sha256, loaded.is_random))
    onnx = Path(out_dir) / f"{stem}.onnx"
    wanted = {"gsv_trt_version": __version__, "vocoder": version, "precision": recipe.precision,
              "fp32_islands": ",".join(islands_for(version, recipe.precision, recipe.vocoder_islands)),
              "weights_sha256": loaded.weights_sha256}
    if onnx_is_current(onnx, wanted) and not recipe.force:
        recipe.log(f"reusing exported {onnx} (same weights, precision and fp32 islands)")
        return onnx
    guard_replacement(onnx, loaded.weights, loaded.weights_sha256, recipe.force, recipe.log)
    recipe.log(f"exporting {onnx}")
    export_onnx(loaded, onnx, recipe.precision, recipe.vocoder_islands)
    if not recipe.check:
        recipe.log("note: --no-check: the graph was not compared with PyTorch")
    elif not check_onnx(onnx, log=recipe.log, loaded=loaded):
        onnx.unlink()
        raise GsvTrtError(f"{onnx}: the exported graph does not match the PyTorch model (see above); no engine built")
    return onnx


def cfm_onnx(loaded: "LoadedCFM", out_dir: str | Path, recipe: Recipe) -> tuple[Path, Path]:
    """The checked (condition, step) graphs of ``loaded`` in ``out_dir``: reused when current, else exported and
    checked at the version's chunk."""
    from .. import __version__
    from ..export.artifacts import artifact_stem, weights_key
    from ..export.cfm.check import check_cfm
    from ..export.cfm.exporter import export_cfm, pair_paths, resolve_islands, used_islands

    precision, version = recipe.precision, loaded.version
    islands = resolve_islands(precision, recipe.cfm_islands)
    stem = artifact_stem(version, "cfm-step", precision, weights_key(loaded.weights_sha256, loaded.is_random))
    onnxs = pair_paths(Path(out_dir) / f"{stem}.onnx")  # (condition, step)
    shared = {"gsv_trt_version": __version__, "version": version, "precision": precision,
              "weights_sha256": loaded.weights_sha256,
              "cfm_config": json.dumps(loaded.model.estimator.cfg.to_dict(), sort_keys=True)}
    current = all(onnx_is_current(path, {**shared, "fp32_islands": ",".join(used_islands(component, islands)),
                                         "pair": partner.name})
                  for path, partner, component in zip(onnxs, onnxs[::-1], ("cfm-condition", "cfm-step")))
    if current and not recipe.force:
        recipe.log(f"reusing exported {onnxs[0].name} + {onnxs[1].name} (same weights, precision and fp32 islands)")
        return onnxs
    for path in onnxs:
        guard_replacement(path, loaded.weights, loaded.weights_sha256, recipe.force, recipe.log)
    recipe.log(f"exporting {onnxs[0]} + {onnxs[1].name}")
    export_cfm(loaded, onnxs[1], precision, islands)
    if not recipe.check:
        recipe.log("note: --no-check: the graphs were not compared with PyTorch")
    elif not check_cfm(onnxs[1], loaded=loaded, frames=ENGINE_CHECK_FRAMES[version], log=recipe.log):
        for path in onnxs:
            path.unlink()
        raise GsvTrtError(f"{onnxs[1]}: the exported CFM graphs do not match the PyTorch model (see above); "
                          "no engine built")
    return onnxs


def engine_of(onnx: Path, recipe: Recipe) -> tuple[Path, dict]:
    """Build (or reuse) the engine beside ``onnx``; warn when the result cannot run on this GPU. (plan, sidecar)."""
    from ..export.metadata import ANY, model_version, read_metadata
    from .builder import cannot_run_note, ensure_engine
    from .progress import BuildConsole

    plan = onnx.with_suffix(".plan")
    meta = read_metadata(onnx, ANY)
    options = recipe.options_for(meta["component"], model_version(meta), plan)
    console = BuildConsole(verbose=recipe.verbose)
    sidecar, _ = ensure_engine(onnx, plan, options, recipe.gpu, console, force=recipe.force)
    note = cannot_run_note(sidecar, recipe.gpu)
    if note:
        console.say(note)
    return plan, sidecar


def vocoder_engine(loaded: "LoadedVocoder", out_dir: str | Path, recipe: Recipe) -> tuple[Path, dict]:
    """The engine of ``loaded`` in ``out_dir``: (plan, sidecar), exported, checked and built when not current."""
    built = engine_of(vocoder_onnx(loaded, out_dir, recipe), recipe)
    if loaded.is_random:
        recipe.log(f"note: {built[0].name} holds {loaded.provenance}; pass --weights or --gpt-sovits-root for a "
                   "real one")
    return built


def cfm_engines(loaded: "LoadedCFM", out_dir: str | Path, recipe: Recipe) -> list[tuple[Path, dict]]:
    """The conditioner and step engines of ``loaded`` in ``out_dir``: [(plan, sidecar)] in that order."""
    built = [engine_of(onnx, recipe) for onnx in cfm_onnx(loaded, out_dir, recipe)]
    if loaded.is_random:
        recipe.log(f"note: the CFM engines hold {loaded.provenance}; pass --sovits-weights or --gpt-sovits-root for "
                   "real ones")
    return built
