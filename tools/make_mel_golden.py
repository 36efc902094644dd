"""Write tests/fixtures/mel_upstream.json: upstream's ``mel_spectrogram_torch`` on the bundled clip, for test_mel.py.

Run from the repository root with the upstream reference next to it (not shipped, never imported by gsv_trt):

    python tools/make_mel_golden.py --reference ../shared/reference

The first 0.5 s of the bundled 24 kHz clip go through upstream's function with v3's and v4's settings (the mel
function does not care what rate the samples were recorded at, so no resampler is involved). The file keeps the
shape, summary statistics and a regular sub-grid of values: enough to catch any change in padding, window, basis or
log, small enough to review.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 12000
BAND_STEP, FRAME_STEP = 7, 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "mel_upstream.json")
    args = parser.parse_args()
    sys.path.insert(0, str(args.reference))
    from gpt_sovits.mel_processing import mel_spectrogram_torch

    from gsv_trt.models.vocoder import spec_for

    wav, _ = sf.read(ROOT / "gsv_trt" / "data" / "libritts_24k.wav", dtype="float32")
    y = torch.from_numpy(wav[:SAMPLES])[None]
    golden = {"source": "upstream GPT-SoVITS module/mel_processing.py mel_spectrogram_torch (reference copy)",
              "input": f"first {SAMPLES} samples of gsv_trt/data/libritts_24k.wav, float32 via soundfile",
              "band_step": BAND_STEP, "frame_step": FRAME_STEP, "versions": {}}
    for version in ("v3", "v4"):
        m = spec_for(version).mel
        mel = mel_spectrogram_torch(y, m.n_fft, m.num_mels, m.sampling_rate, m.hop_size, m.win_size, m.fmin, m.fmax,
                                    center=False)[0].numpy().astype(np.float64)
        golden["versions"][version] = {
            "shape": list(mel.shape), "mean": mel.mean(), "std": mel.std(), "min": mel.min(), "max": mel.max(),
            "grid": np.round(mel[::BAND_STEP, ::FRAME_STEP], 5).tolist(),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
