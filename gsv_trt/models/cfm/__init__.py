"""The CFM mel generator of GPT-SoVITS v3/v4 (a 337 M DiT estimator and the Euler loop), our own code with upstream's
state-dict names, and its loader from SoVITS files."""

from .cfm import CFM
from .config import CFM_SHAPES, FULL_DIT, TRAINED_STEPS, DiTConfig
from .dit import DiT
from .loader import RANDOM, LoadedCFM, load_cfm

__all__ = ["CFM", "CFM_SHAPES", "FULL_DIT", "TRAINED_STEPS", "DiTConfig", "DiT", "RANDOM", "LoadedCFM", "load_cfm"]
