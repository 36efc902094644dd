"""Measure upstream's own reduced precision against fp32, the bar of the quality gate (gsv_trt/quality/gate.py).

Upstream GPT-SoVITS runs its vocoder eager, cast whole to fp16 when ``is_half`` (the default on CUDA), with TF32 off
in fp32. This script does exactly that with gsv-trt's models (verified identical to upstream) on real speech (the
bundled LibriTTS clip, or --audio), prints cosine / MSE / SNR / log-mel L1 / MR-STFT of eager fp16 and bf16 against
eager fp32, and with --write stores the worst value over the clips in gsv_trt/data/thresholds.json, which the gate
reads. Run it on the GPU the project targets (upstream never runs fp16 on a CPU, so a CPU run is only provisional):

    python tools/calibrate_thresholds.py --device cuda --write

(--out FILE writes elsewhere, e.g. to bring the result back from a remote GPU.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import torch

from gsv_trt.models.vocoder import load_vocoder
from gsv_trt.quality.evaluate import eager
from gsv_trt.quality.gate import THRESHOLDS_FILE
from gsv_trt.quality.mel import default_clips, output_mel_settings
from gsv_trt.quality.metrics import compare

ROOT = Path(__file__).resolve().parents[1]
WORST = {"cosine": min, "mse": max, "snr_db": min, "max_abs": max, "log_mel_l1": max, "mr_stft": max}


def measure(version: str, weights: str, device: str, audio: list[Path] | None, seconds: float | None) -> dict:
    loaded = load_vocoder(version, weights)
    clips = default_clips(loaded.spec, audio, seconds)
    out_mel = output_mel_settings(loaded.spec)
    ref = eager(loaded, "fp32", device)
    refs = [ref(c.mel) for c in clips]
    result = {"weights": loaded.provenance, "clips": [f"{c.name} ({c.frames} frames)" for c in clips]}
    for precision in ("fp16", "bf16"):
        cand = eager(loaded, precision, device)
        per_clip = [compare(r, cand(c.mel), out_mel) for c, r in zip(clips, refs)]
        if not all(m.finite for m in per_clip):
            result[precision] = {"finite": False}
            print(f"{version} eager {precision}: NaN/Inf output", file=sys.stderr)
            continue
        worst = {k: f([getattr(m, k) for m in per_clip]) for k, f in WORST.items()}
        result[precision] = worst
        print(f"{version} eager {precision} vs fp32 on {device} ({loaded.provenance}): "
              + ", ".join(f"{k} {v:.6g}" for k, v in worst.items()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--versions", default="v3,v4")
    parser.add_argument("--weights-v3", default="random", help="v3 weights (directory), default random")
    parser.add_argument("--weights-v4", default="random", help="v4 weights (vocoder.pth), default random")
    parser.add_argument("--audio", type=Path, nargs="*", help="wav files (default: the bundled LibriTTS clip)")
    parser.add_argument("--seconds", type=float, default=None, help="crop each clip (CPU runs are slow)")
    parser.add_argument("--write", action="store_true", help=f"store the result in gsv_trt/data/{THRESHOLDS_FILE}")
    parser.add_argument("--out", type=Path, default=None, help="store the result in this file instead")
    args = parser.parse_args()

    device_name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    measured = {}
    for version in args.versions.split(","):
        r = measure(version, getattr(args, f"weights_{version}"), args.device, args.audio, args.seconds)
        measured[version] = {"weights": r["weights"],
                             "audio": ", ".join(r["clips"]) + (f", first {args.seconds:g} s" if args.seconds else ""),
                             "fp16": r["fp16"], "bf16": r["bf16"]}
    record = {
        "provisional": not args.device.startswith("cuda"),
        "date": dt.date.today().isoformat(),
        "device": f"{device_name}, torch {torch.__version__}",
        "how": "tools/calibrate_thresholds.py: eager fp16/bf16 (whole module cast, as upstream is_half) vs eager "
               "fp32 with TF32 off; worst value over the clips",
        "measured": measured,
    }
    text = json.dumps(record, indent=1) + "\n"
    print(text)
    if args.write or args.out:
        path = args.out or ROOT / "gsv_trt" / "data" / THRESHOLDS_FILE
        path.write_text(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
