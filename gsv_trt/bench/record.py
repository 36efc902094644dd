"""The part of every report that says what produced it: command, machine, vocoder and weights, clips."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import __version__
from ..models.vocoder import LoadedVocoder
from ..quality.mel import Clip
from .environment import Environment


def command_line() -> str | None:
    """The gsv-trt command as typed, when this process is the CLI (``gsv-trt ...`` or ``python -m gsv_trt ...``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or not (program.name == "gsv-trt" or program.parent.name == "gsv_trt"):
        return None
    return " ".join(["gsv-trt", *sys.argv[1:]])


def header(kind: str, env: Environment, loaded: LoadedVocoder, clips: list[Clip], started: str,
           seconds: float) -> dict:
    spec = loaded.spec
    return {
        "kind": kind,
        "gsv_trt_version": __version__,
        "created": started,
        "seconds": seconds,
        "command": command_line(),
        "environment": env.to_dict(),
        "vocoder": {"version": spec.version, "weights": loaded.weights, "weights_sha256": loaded.weights_sha256,
                    "provenance": loaded.provenance, "random_weights": loaded.is_random, "hop": spec.hop,
                    "sample_rate": spec.sample_rate},
        "clips": [{"name": c.name, "source": c.source, "attribution": c.attribution, "frames": c.frames}
                  for c in clips],
    }
