"""Time a new process from its start to its first output, as a restarted server would see it: first ever (empty
compile caches) and restarted (warm caches: gsv_trt/runtime/compile_cache.py). One JSON line per (part, start).

usage (repository root, GPU machine):
    python tools/cold_start.py --parts v3-vocoder,v4-vocoder,v4-vocoder:none,v3-vocoder:none:heuristics,v4-cfm
    python tools/cold_start.py --parts v3-vocoder:none,v4-vocoder:none --restarts 3   # a spread of restarts
(":none": the vocoder's hand-fused path, which the synthesis stage and the overlay run; ":heuristics" after it:
cuDNN's heuristic conv algorithms instead of its per-process benchmark search; ":limitN": the search, timing only
the first N of the heuristics' candidates, TorchFastVocoder's cudnn_benchmark_limit, default 10)
Weights are RANDOM (generating them is timed apart as load_s); with a real checkpoint load_s is reading the file.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
import torch
part = {part!r}
if part.endswith("cfm"):
    from gsv_trt.models.cfm.loader import load_cfm
    from gsv_trt.runtime.cfm.torch_fast import TorchFastCFM
    loaded = load_cfm(part[:2], "random")
    t1 = time.perf_counter()
    runtime = TorchFastCFM(loaded.model.estimator, cache_dir={cache!r})
    out = runtime.inference(torch.randn(1, 1000, 512), torch.randn(1, 100, 500), 32)
else:
    from gsv_trt.models.vocoder import load_vocoder
    from gsv_trt.runtime.vocoder.torch_fast import TorchFastVocoder
    loaded = load_vocoder(part[:2], "random")
    t1 = time.perf_counter()
    runtime = TorchFastVocoder(loaded, "fp16", cache_dir={cache!r}, use_compile={compile!r},
                               cudnn_benchmark={benchmark!r}, cudnn_benchmark_limit={limit!r})
    torch.cuda.synchronize()
    t_built = time.perf_counter()
    out = runtime(torch.randn(1, 100, 934 if part.startswith("v3") else 1000).numpy())
torch.cuda.synchronize()
t2 = time.perf_counter()
split = {{"runtime_built_s": round(t_built - t1, 2)}} if part.endswith("vocoder") else {{}}
print({{"load_s": round(t1 - t0, 2), "runtime_to_first_output_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
       **split}})
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="v3-vocoder,v4-vocoder,v4-cfm",
                    help="comma list of v3|v4-vocoder[:compile mode, e.g. none for the hand-fused path]"
                         "[:heuristics|:limitN]|v4-cfm")
    ap.add_argument("--restarts", type=int, default=1,
                    help="warm restarts per part after its first-ever start (default 1); more give a spread")
    ap.add_argument("--out", type=Path, default=None, help="also append the JSON lines here")
    args = ap.parse_args()
    for part in args.parts.split(","):
        cache = tempfile.mkdtemp(prefix="gsv-trt-cache-")  # empty: the first start is a first-ever start
        for label in ("first-ever", *["restart-warm-cache"] * args.restarts):
            start = time.perf_counter()
            name, _, rest = part.partition(":")
            mode, _, search = rest.partition(":")
            limit = int(search[len("limit"):]) if search.startswith("limit") else 10
            child = CHILD.format(repo=str(REPO), part=name, cache=cache, compile=mode or "default",
                                 benchmark=search != "heuristics", limit=limit)
            done = subprocess.run([sys.executable, "-c", child],
                                  capture_output=True, text=True)
            rec = {"part": part, "start": label, "process_s": round(time.perf_counter() - start, 2),
                   "weights": "RANDOM"}
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            rec.update(ast.literal_eval(lines[-1]) if lines else {"error": done.stderr[-600:]})
            line = json.dumps(rec)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
