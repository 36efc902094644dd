"""Where one call of the synthesis stage spends its time on a GPU: torch.profiler's top kernels and host ops, and
host wall time of each front-end call (synced), for RANDOM weights as in `gsv-trt bench --stage synthesis`.

    python tools/profile_stage.py --version v4 --seconds 10 --steps 8 --path sequential --out profile.txt

The front end is also profiled without graphs, operator by operator with input shapes, to attribute its kernels.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", choices=("v3", "v4"), default="v4", help="model version (default v4)")
    ap.add_argument("--seconds", type=float, default=10.0, help="audio length of the request (default 10)")
    ap.add_argument("--steps", type=int, default=8, help="CFM Euler steps (default 8)")
    ap.add_argument("--path", choices=("sequential", "batched", "stream"), default="sequential",
                    help="stage path (default sequential)")
    ap.add_argument("--out", type=Path, required=True, help="text report to write")
    ap.add_argument("--trace", type=Path, help="also write a Chrome trace here")
    args = ap.parse_args()

    from torch.profiler import ProfilerActivity, profile

    from gsv_trt.bench.synthesis import OurSynthesis, SynthesisRow, load_parts, make_request
    from gsv_trt.models.mel import shipped_speech
    from gsv_trt.synthesis.stage import Segment

    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as the bench
    ours = OurSynthesis(args.version, load_parts(args.version), device)
    x = make_request(SynthesisRow(args.version, args.seconds, args.steps), shipped_speech(), device)
    run = ours.call(args.path, x, args.steps)
    for _ in range(3):
        run()
    torch.cuda.synchronize()

    stage, lines = ours.stage, [f"RANDOM weights; {ours.runtime}; {args.version} {args.seconds} s "
                                f"{args.steps} steps {args.path}"]

    def timed(name: str, fn):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        host = time.perf_counter() - start
        torch.cuda.synchronize()
        lines.append(f"{name}: host {host * 1e3:.2f} ms, to synced {(time.perf_counter() - start) * 1e3:.2f} ms")
        return out

    for _ in range(2):  # the second round is the one to read
        prompt = timed("prompt (style + prompt features + reference mel)",
                       lambda: stage.prompt(x.reference, x.prompt_codes, x.prompt_phones))
        timed("segment features", lambda: stage.features(prompt, Segment(x.codes, x.phones), 1.0))
        timed("whole call", run)

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    table = prof.key_averages()
    lines += ["", "kernels by device time (whole call)",
              table.table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70),
              "", "by host time", table.table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=70)]
    lines += ["", "front end operators by device time, with input shapes: the same padded computation run without "
              "graphs (graph replays record kernels, not the operators that launched them)", _front_end_ops(stage, x)]
    args.out.write_text("\n".join(lines) + "\n")
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
    print("\n".join(lines[:8]))


def _front_end_ops(stage, x) -> str:
    from torch.profiler import ProfilerActivity, profile

    from gsv_trt.runtime.sovits.torch_fast import TorchFastFrontEnd
    from gsv_trt.synthesis.stage import Segment

    fast = stage.frontend
    if not isinstance(fast, TorchFastFrontEnd):
        return "(the stage's front end is not torch-fast)"
    plain = TorchFastFrontEnd(fast.model, graphs=False, tf32=fast.tf32)
    saved, stage.frontend = stage.frontend, plain
    try:
        for _ in range(2):
            prompt = stage.prompt(x.reference, x.prompt_codes, x.prompt_phones)
            stage.features(prompt, Segment(x.codes, x.phones), 1.0)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            prompt = stage.prompt(x.reference, x.prompt_codes, x.prompt_phones)
            stage.features(prompt, Segment(x.codes, x.phones), 1.0)
            torch.cuda.synchronize()
    finally:
        stage.frontend = saved
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cuda_time_total", row_limit=40,
                                                              max_name_column_width=40, max_shapes_column_width=80)


if __name__ == "__main__":
    main()
