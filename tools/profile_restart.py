"""Where a warm restart of the v3 torch-fast vocoder (hand-fused path) spends its time: a first process fills an
empty compile cache, then this one times CUDA initialisation, building the runtime and its first call, with
cProfile's top functions (RANDOM weights; generating them is not timed).

usage (repository root, GPU machine):
    python tools/profile_restart.py > restart-profile.txt
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRST = """
import sys
sys.path.insert(0, {repo!r})
import torch
from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.runtime.vocoder.torch_fast import TorchFastVocoder
runtime = TorchFastVocoder(load_vocoder("v3", "random"), "fp16", cache_dir={cache!r}, use_compile="none")
runtime(torch.randn(1, 100, 934).numpy())
"""


def main() -> int:
    cache = tempfile.mkdtemp(prefix="gsv-trt-cache-")
    subprocess.run([sys.executable, "-c", FIRST.format(repo=str(REPO), cache=cache)], check=True)
    sys.path.insert(0, str(REPO))
    import torch

    from gsv_trt.models.vocoder import load_vocoder
    from gsv_trt.runtime.vocoder.torch_fast import TorchFastVocoder

    loaded = load_vocoder("v3", "random")
    t0 = time.perf_counter()
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    prof = cProfile.Profile()
    prof.enable()
    runtime = TorchFastVocoder(loaded, "fp16", cache_dir=cache, use_compile="none")
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    runtime(torch.randn(1, 100, 934).numpy())
    torch.cuda.synchronize()
    prof.disable()
    t3 = time.perf_counter()
    print(f"RANDOM weights; cuda init {t1 - t0:.2f} s, build {t2 - t1:.2f} s, first call {t3 - t2:.2f} s")
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    stats.print_stats(35)
    stats.sort_stats("tottime").print_stats(20)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
