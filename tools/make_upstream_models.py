"""Write a runnable GPT-SoVITS tree with RANDOM weights: a copy of a checkout plus every model file its v3/v4
inference loads, in upstream's own layouts (gsv_trt/gpt_sovits/random_models/workspace.py lists them; ~2.1 GB).

Run it with the upstream environment's python (it reads names and shapes off the checkout's own classes):

    .venv-upstream/bin/python tools/make_upstream_models.py --root ../shared/upstream/GPT-SoVITS --out /tmp/gsv
    cd /tmp/gsv && ../path/to/.venv-upstream/bin/python api_v2.py -c GPT_SoVITS/configs/random-v4.yaml
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gsv_trt.errors import GsvTrtError
from gsv_trt.gpt_sovits.random_models import write_workspace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="a GPT-SoVITS checkout (left untouched)")
    parser.add_argument("--out", type=Path, required=True, help="new directory for the copy (must not exist)")
    parser.add_argument("--max-sec", type=float, default=1.0,
                        help="the text-to-semantic model's max_sec: a request makes at most 2 x this many seconds")
    args = parser.parse_args()
    if args.out.exists():
        print(f"error: {args.out}: already exists", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        ws = write_workspace(args.root, args.out, max_sec=args.max_sec)
    except GsvTrtError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"RANDOM-weight GPT-SoVITS tree written to {ws.root} in {time.perf_counter() - start:.0f} s")
    for version, config in ws.configs.items():
        print(f"  {version}: {config.relative_to(ws.root)} (LoRA {ws.loras[version].relative_to(ws.root)})")
    print(f"  reference audio: {ws.reference.relative_to(ws.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
