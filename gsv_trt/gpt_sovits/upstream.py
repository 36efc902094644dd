"""A GPT-SoVITS checkout, and running its code as upstream's own scripts do.

Upstream's modules resolve files against the working directory (``GPT_SoVITS/configs/``, the pretrained models,
``now_dir = os.getcwd()`` read at import time) and import each other both as ``GPT_SoVITS.x`` and as top-level
``AR``, ``module``, ``text``, ``tools`` ..., because ``api_v2.py`` puts the checkout and ``GPT_SoVITS/`` on
``sys.path``. :func:`use_checkout` sets up exactly that, so ``import TTS_infer_pack.TTS`` finds the checkout's own
code, and undoes it on exit (modules stay imported: upstream's module-level state is read once per process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import GsvTrtError

# files that make a directory a GPT-SoVITS checkout with the v3/v4 inference code
MARKERS = ("api_v2.py", "GPT_SoVITS/TTS_infer_pack/TTS.py", "GPT_SoVITS/module/models.py", "GPT_SoVITS/process_ckpt.py")


def checkout_root(path: str | Path) -> Path:
    """``path`` as an absolute checkout root, or a one-line error naming the first missing marker file."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise GsvTrtError(f"{path}: not a directory (expected a GPT-SoVITS checkout)")
    for marker in MARKERS:
        if not (root / marker).is_file():
            raise GsvTrtError(f"{path}: not a GPT-SoVITS checkout with v3/v4 inference code ({marker} is missing)")
    return root


@contextmanager
def use_checkout(path: str | Path) -> Iterator[Path]:
    """Working directory = the checkout, checkout and ``GPT_SoVITS/`` first on ``sys.path``; restored on exit."""
    root = checkout_root(path)
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    os.chdir(root)
    sys.path[:0] = [str(root / "GPT_SoVITS"), str(root)]
    try:
        yield root
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
