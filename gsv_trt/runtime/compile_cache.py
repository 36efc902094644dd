"""Compiled GPU code kept across processes, so a restarted server does not compile again.

torch-fast compiles at first use: Inductor's graphs (torch.compile of the vocoder) and Triton kernels (both
runtimes). Both compilers cache on disk, by default under /tmp, which a container restart or a tmp cleaner loses.
Here the caches live in the engines folder, one sub-folder per GPU model and compiler versions (the code compiled
for one of them is useless for another), with a sidecar saying what it is. Compiled code does not depend on the
weights (Inductor takes parameters as graph inputs), so one cache serves every checkpoint.

An explicit ``TORCHINDUCTOR_CACHE_DIR`` / ``TRITON_CACHE_DIR`` in the environment wins; the cache must be chosen
before the process compiles anything (both compilers read the variables at compile time).

Before Triton can look up any cached kernel it hashes its own installation (libtriton and its sources), once per
process; ``enable`` starts that on a thread, so it runs while the runtime builds its model instead of inside the
first call (0.4-1.1 s off a v3 vocoder restart on the H200, BENCHMARKS.md §6).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import threading
from pathlib import Path

DEFAULT_ROOT = Path("engines") / "torch-fast-cache"
SIDECAR = "cache.json"


def cache_key(gpu_name: str, cc: str, torch_version: str, triton_version: str) -> str:
    """``nvidia-h200-cc9.0-torch2.11.0+cu130-triton3.6.0``: what compiled code is valid for."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
    return f"{slug}-cc{cc}-torch{torch_version}-triton{triton_version}"


def enable(root: str | Path | None = None, device: int = 0) -> Path:
    """Point Inductor's and Triton's on-disk caches at ``root/<key>/`` (default ``engines/torch-fast-cache``)."""
    import torch
    import triton

    props = torch.cuda.get_device_properties(device)
    cc = f"{props.major}.{props.minor}"
    folder = (Path(root) if root is not None else DEFAULT_ROOT) / cache_key(props.name, cc, torch.__version__,
                                                                           triton.__version__)
    folder = folder.resolve()
    hash_triton_install()
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(folder / "inductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(folder / "triton"))
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = folder / SIDECAR
    if not sidecar.exists():
        sidecar.write_text(json.dumps({
            "what": "torch-fast compiled code (Inductor FX-graph and Triton kernel caches); safe to delete",
            "gpu": props.name, "compute_capability": cc, "torch": torch.__version__, "triton": triton.__version__,
            "inductor_cache": os.environ["TORCHINDUCTOR_CACHE_DIR"], "triton_cache": os.environ["TRITON_CACHE_DIR"],
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}, indent=1) + "\n")
    return folder


@functools.cache
def hash_triton_install() -> threading.Thread | None:
    """Start Triton's once-per-process hash of its installation on a daemon thread (None where this Triton keeps
    it elsewhere: it then hashes on first use, as before). Hashing releases the GIL, so the thread overlaps the
    caller's work; Triton caches the result for the whole process."""
    try:
        from triton.runtime.cache import triton_key
    except ImportError:
        return None
    thread = threading.Thread(target=triton_key, name="gsv-trt-triton-key", daemon=True)
    thread.start()
    return thread
