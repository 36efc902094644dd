"""Ways to shorten the v3/v4 torch-fast vocoder's warm restart, each timed in a new process on a warm cache.

The first process fills the cache (RANDOM weights; generating them is not timed). One JSON line per process:
seconds from building the runtime to its first output at 934 (v3) / 1000 (v4) frames, and graph replay times
afterwards, so a faster start that picked slower cuDNN algorithms shows.

Variants: ``default``; ``no-triton-prefetch`` (Triton hashes its installation inside the first call, as before
compile_cache.hash_triton_install); ``limit3`` (cuDNN's search times 3 candidates a shape, not 10);
``threadsN`` (every conv shape of the first call searched beforehand on N threads).

usage (repository root, GPU machine):
    python tools/probe_vocoder_restart.py --version v3 --variants no-triton-prefetch,default --rounds 2
    python tools/probe_vocoder_restart.py stage-limit 3 bench --stage synthesis --rows v3:10:8
(the second: ``gsv-trt bench ...`` with the stage's vocoder searching 3 candidates a conv shape)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPLAYS = ((1, 1024), (1, 256), (2, 1024))  # (batch, bucket) graphs timed after the first output


def run_variant(version: str, variant: str, cache: str, shapes_file: Path) -> dict:
    """This process's restart under ``variant`` (``record`` also writes the first call's conv shapes)."""
    import torch

    from gsv_trt.models.vocoder import load_vocoder
    from gsv_trt.runtime import compile_cache
    from gsv_trt.runtime.vocoder import torch_fast

    loaded = load_vocoder(version, "random")
    if variant == "no-triton-prefetch":
        compile_cache.hash_triton_install = lambda: None
    seen: dict[tuple[int, tuple[int, ...]], torch_fast.FastConv] = {}
    forward = torch_fast.FastConv.forward
    if variant == "record":
        def recording(self, x):
            seen.setdefault((id(self), tuple(x.shape)), self)
            return forward(self, x)
        torch_fast.FastConv.forward = recording
    t0 = time.perf_counter()
    runtime = torch_fast.TorchFastVocoder(loaded, "fp16", cache_dir=cache, use_compile="none",
                                          cudnn_benchmark_limit=3 if variant == "limit3" else 10)
    torch.cuda.synchronize()
    rec = {"version": version, "variant": variant, "weights": "RANDOM", "built_s": round(time.perf_counter() - t0, 2)}
    if variant.startswith("threads"):
        modules = dict(runtime.model.named_modules())
        jobs = [(modules[name], tuple(shape)) for name, shape in json.loads(shapes_file.read_text())]
        t1 = time.perf_counter()
        _search_on_threads(jobs, int(variant[len("threads"):]), runtime)
        rec["threads_search_s"] = round(time.perf_counter() - t1, 2)
    runtime(torch.randn(1, 100, 934 if version == "v3" else 1000).numpy())
    torch.cuda.synchronize()
    rec["runtime_to_first_output_s"] = round(time.perf_counter() - t0, 2)
    torch_fast.FastConv.forward = forward
    if variant == "record":
        names = {id(m): n for n, m in runtime.model.named_modules()}
        shapes_file.write_text(json.dumps([[names[i], list(shape)] for i, shape in seen]))
        rec["conv_calls"] = len(seen)
    rec["replay_ms"] = {f"b{b}x{t}": _replay_ms(runtime, b, t) for b, t in REPLAYS}
    return rec


def _search_on_threads(jobs: list, threads: int, runtime) -> None:
    """Each conv shape once, on ``threads`` threads with a stream each, under the runtime's cuDNN flags."""
    import torch
    import torch.nn.functional as F

    from gsv_trt.runtime.vocoder.torch_fast import _cudnn_flags

    def work(part: list) -> None:
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream), torch.inference_mode(), _cudnn_flags(True, runtime.cudnn_benchmark_limit):
            for m, shape in part:
                x = torch.zeros(shape, dtype=m.weight.dtype, device="cuda")
                x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
                if m.transposed:
                    F.conv_transpose2d(x, m.weight, m.bias, (1, m.stride), (0, m.padding), (0, m.output_padding), 1,
                                       (1, m.dilation))
                else:
                    F.conv2d(x, m.weight, m.bias, (1, m.stride), (0, m.padding), (1, m.dilation))
        stream.synchronize()

    workers = [threading.Thread(target=work, args=(jobs[i::threads],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def _replay_ms(runtime, batch: int, bucket: int, n: int = 50) -> float:
    import torch

    runtime.forward_tensor(torch.randn(batch, 100, bucket - 7, device="cuda"))
    graph = runtime._graphs[(batch, bucket)].graph
    times = []
    for _ in range(n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return round(statistics.median(times), 4)


def stage_with_limit(limit: int, argv: list[str]) -> int:
    """``gsv-trt argv`` with TorchFastVocoder's default cudnn_benchmark_limit replaced by ``limit``."""
    from gsv_trt.cli import main
    from gsv_trt.runtime.vocoder.torch_fast import TorchFastVocoder

    defaults = list(TorchFastVocoder.__init__.__defaults__)
    defaults[-1] = limit
    TorchFastVocoder.__init__.__defaults__ = tuple(defaults)
    return main(argv)


def main() -> int:
    sys.path.insert(0, str(REPO))
    if sys.argv[1:2] == ["stage-limit"]:
        return stage_with_limit(int(sys.argv[2]), sys.argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", choices=("v3", "v4"), default="v3", help="which vocoder (default v3)")
    ap.add_argument("--variants", default="no-triton-prefetch,default,limit3,threads8",
                    help="comma list, run in this order each round (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, help="times each variant runs (default 2)")
    ap.add_argument("--out", type=Path, default=None, help="also append the JSON lines here")
    ap.add_argument("--child", nargs=3, metavar=("VARIANT", "CACHE", "SHAPES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.version, args.child[0], args.child[1], Path(args.child[2]))), flush=True)
        return 0
    cache = tempfile.mkdtemp(prefix="gsv-trt-cache-")
    shapes = Path(cache) / "conv-shapes.json"
    for variant in ["record"] + args.variants.split(",") * args.rounds:
        done = subprocess.run([sys.executable, __file__, "--version", args.version, "--child", variant, cache,
                               str(shapes)], capture_output=True, text=True)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        line = lines[-1] if lines else json.dumps({"variant": variant, "error": done.stderr[-600:]})
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
