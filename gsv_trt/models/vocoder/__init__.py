"""The v3 (BigVGAN-v2) and v4 (Generator) vocoders, their configs and checkpoint loaders."""

from .config import SPECS, VocoderSpec, spec_for
from .loader import RANDOM, LoadedVocoder, build_model, load_vocoder

__all__ = ["SPECS", "VocoderSpec", "spec_for", "RANDOM", "LoadedVocoder", "build_model", "load_vocoder"]
