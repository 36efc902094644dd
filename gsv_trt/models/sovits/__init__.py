"""The SoVITS side of GPT-SoVITS v3/v4: reading its checkpoint files (shared by the CFM and the front end) and the
front end that turns semantic tokens and phones into the CFM's conditioning."""

from .checkpoint import SovitsFile, read_sovits
from .weights import SovitsWeights, load_sovits_weights

__all__ = ["SovitsFile", "read_sovits", "SovitsWeights", "load_sovits_weights"]
