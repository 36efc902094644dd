"""The GPT-SoVITS v3/v4 synthesis stage: semantic tokens -> SoVITS features -> CFM mel -> vocoder audio, upstream's
sequential and batched paths with upstream's numbers, each part on the fastest runtime present."""

from .chunking import Chunking
from .prompt import Prompt, prepare_prompt
from .runners import RUNTIMES, EngineOptions, cfm_runner, resolve_runtime, vocoder_runner
from .stage import PATHS, Segment, SynthesisStage
from .streaming import VOCODER_REACH, StreamingVocoder, StreamPlan

__all__ = ["Chunking", "Prompt", "prepare_prompt", "RUNTIMES", "EngineOptions", "cfm_runner", "resolve_runtime",
           "vocoder_runner", "PATHS", "Segment", "SynthesisStage", "VOCODER_REACH", "StreamingVocoder", "StreamPlan"]
