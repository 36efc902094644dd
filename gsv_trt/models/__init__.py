"""Our own implementations of the GPT-SoVITS vocoders and the loaders for upstream's checkpoint files."""

from .config import SPECS, VocoderSpec, spec_for
from .loader import RANDOM, LoadedVocoder, build_model, load_vocoder

__all__ = ["SPECS", "VocoderSpec", "spec_for", "RANDOM", "LoadedVocoder", "build_model", "load_vocoder"]
