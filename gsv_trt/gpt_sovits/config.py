"""The ``gsv_trt:`` section of GPT-SoVITS's ``tts_infer.yaml``: whether and how the overlay accelerates the pipeline.

It is a top-level section because upstream's ``TTS_Config.save_configs`` rewrites the file on every weight load and
keeps every top-level section whole, but keeps only its own seven keys under ``custom``: a ``gsv_trt`` key (or
``use_tensorrt``) put there works once and then silently disappears. Such a misplaced key is refused here, like an
unknown key or a bad value, in one line naming the file and the key; the caller prints it and keeps the stock pipeline.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..build.profiles import DEFAULT_MAX_BATCH
from ..errors import GsvTrtError

SECTION = "gsv_trt"
PRECISIONS = ("fp16", "bf16", "fp32")
RUNTIMES = ("auto", "tensorrt", "torch-fast", "eager")
PARTS = ("cfm", "vocoder")
# YAML key -> OverlayConfig field (the first four are the names GPT-SoVITS users ask for)
KEYS = {"use_tensorrt": "use_tensorrt", "tensorrt_precision": "precision", "tensorrt_workspace_size": "workspace_bytes",
        "tensorrt_max_batch_size": "max_batch", "runtime": "runtime", "engine_dir": "engine_dir", "parts": "parts"}
# tensorrt_workspace_size: a bare number is MiB, as trtexec's --memPoolSize=workspace:N reads it
SIZE_UNITS = {"": 2**20, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
              "g": 2**30, "gb": 2**30, "gib": 2**30}


@dataclass(frozen=True)
class OverlayConfig:
    """What ``gsv_trt.gpt_sovits.accelerate`` does to an upstream ``TTS``; the defaults leave it stock."""

    use_tensorrt: bool = False  # the master switch: True = accelerate the parts below
    precision: str = "fp16"  # compute precision of the accelerated parts: fp16 | bf16 | fp32
    workspace_bytes: int | None = None  # TensorRT builder workspace limit; None = TensorRT's default (the GPU's
    #                                     memory), as `gsv-trt build` without --workspace, so both share engines
    max_batch: int = DEFAULT_MAX_BATCH  # largest CFM batch (chunks of one T2S batch on the parallel_infer path)
    runtime: str = "auto"  # auto | tensorrt | torch-fast | eager
    engine_dir: Path = Path("engines")  # relative: to the GPT-SoVITS root (upstream's working directory)
    parts: tuple[str, ...] = PARTS  # which of upstream's models are replaced


def overlay_config(section: Mapping | None, source: str = "tts_infer.yaml") -> OverlayConfig:
    """The ``gsv_trt:`` section as read from YAML (None or absent: the stock pipeline); ``source`` names the file in
    errors."""
    if section is None:
        return OverlayConfig()
    if not isinstance(section, Mapping):
        raise GsvTrtError(f"{source}: {SECTION}: must be a section of keys ({', '.join(KEYS)}), "
                          f"not {_shown(section)}")
    values = {}
    for key, value in section.items():
        if key not in KEYS:
            close = [name for name, field in KEYS.items() if field == key] or \
                difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(KEYS)}"
            raise GsvTrtError(f"{source}: {SECTION}.{key}: unknown key ({hint})")
        values[KEYS[key]] = PARSERS[key](value, f"{source}: {SECTION}.{key}")
    return OverlayConfig(**values)


def read_overlay_config(yaml_path: str | Path) -> OverlayConfig:
    """The overlay settings of a tts_infer.yaml. Read it before upstream's ``TTS_Config`` loads it: upstream's first
    save drops keys under ``custom``, and this refuses them while they are still there."""
    import yaml

    path = Path(yaml_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise GsvTrtError(f"{path}: cannot read the GPT-SoVITS config ({e.strerror or e})") from None
    try:
        document = yaml.load(text, Loader=yaml.FullLoader)  # the loader upstream's TTS_Config uses
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise GsvTrtError(f"{path}: not valid YAML{line} ({getattr(e, 'problem', None) or 'parse error'})") from None
    if document is None:
        return OverlayConfig()
    if not isinstance(document, Mapping):
        raise GsvTrtError(f"{path}: not a GPT-SoVITS config (a mapping of sections), but {_shown(document)}")
    _refuse_misplaced(document, str(path))
    return overlay_config(document.get(SECTION), str(path))


def _refuse_misplaced(document: Mapping, source: str) -> None:
    """Overlay keys outside the ``gsv_trt:`` section: under ``custom`` upstream drops them at its next save, in the
    version sections it ignores them, at the top level they are not read."""
    for name, section in document.items():
        if name == SECTION:
            continue
        if name in KEYS:
            raise GsvTrtError(f"{source}: {name}: belongs in the top-level {SECTION}: section, not at the top level")
        if not isinstance(section, Mapping):
            continue
        for key in section:
            if key == SECTION or key in KEYS:
                fate = ("upstream's save_configs keeps only its own 7 keys there and would drop it at the next "
                        "weight load" if name == "custom" else "GPT-SoVITS ignores it there")
                target = f"a top-level {SECTION}: section" if key == SECTION else f"the top-level {SECTION}: section"
                raise GsvTrtError(f"{source}: {name}.{key}: move it to {target} ({fate})")


def _shown(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise GsvTrtError(f"{where}: must be true or false, not {_shown(value)}")
    return value


def _choice(choices: tuple[str, ...]):
    def parse(value: object, where: str) -> str:
        if value not in choices:
            raise GsvTrtError(f"{where}: must be one of {', '.join(choices)}, not {_shown(value)}")
        return value

    return parse


def _positive_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GsvTrtError(f"{where}: must be a whole number of at least 1, not {_shown(value)}")
    return value


def _workspace(value: object, where: str) -> int | None:
    """MiB as a whole number, or a size with its unit ("4GiB", "512MiB", "1073741824B"); null: TensorRT's default."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value * SIZE_UNITS[""]
    elif isinstance(value, str) and (match := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)) \
            and match.group(2).lower() in SIZE_UNITS:
        size = int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])
    else:
        raise GsvTrtError(f"{where}: must be a size in MiB (4096) or with a unit (4GiB, 512MiB), not {_shown(value)}")
    if size < 1:
        raise GsvTrtError(f"{where}: must be a positive size, not {_shown(value)} (leave it out for TensorRT's "
                          "default)")
    return size


def _engine_dir(value: object, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise GsvTrtError(f"{where}: must be a directory path, not {_shown(value)}")
    return Path(value).expanduser()


def _parts(value: object, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise GsvTrtError(f"{where}: must list one or more of {', '.join(PARTS)}, not {_shown(value)}")
    for name in names:
        if name not in PARTS:
            raise GsvTrtError(f"{where}: unknown part {_shown(name)} (known: {', '.join(PARTS)})")
        if names.count(name) > 1:
            raise GsvTrtError(f"{where}: lists {name} twice")
    return tuple(names)


PARSERS = {"use_tensorrt": _bool, "tensorrt_precision": _choice(PRECISIONS), "tensorrt_workspace_size": _workspace,
           "tensorrt_max_batch_size": _positive_int, "runtime": _choice(RUNTIMES), "engine_dir": _engine_dir,
           "parts": _parts}
