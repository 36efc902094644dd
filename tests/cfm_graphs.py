"""Test helper: the CFM of a reduced-width DiT (B's test width) exported once per process and precision, shared
by the export and engine tests (an export costs tens of seconds on a CPU, mostly fixed overhead)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from sovits_files import SMALL_DIT

from gsv_trt.export.cfm.exporter import export_cfm
from gsv_trt.models.cfm import LoadedCFM, load_cfm

WORK = Path(tempfile.mkdtemp(prefix="gsv-trt-cfm-graphs-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


@functools.cache
def small_cfm() -> LoadedCFM:
    """Random (spread) weights of the reduced-width DiT, as ``--sovits-weights random`` gives at full size."""
    return load_cfm("v4", "random", config=SMALL_DIT)


@functools.cache
def small_pair(precision: str) -> tuple[Path, Path]:
    """(condition, step) graphs of ``small_cfm()`` at ``precision`` with the default fp32 islands, named as
    ``gsv-trt engine`` names them."""
    return export_cfm(small_cfm(), WORK / f"gpt-sovits-v4-cfm-step-{precision}-random.onnx", precision)
