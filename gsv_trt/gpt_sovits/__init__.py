"""The overlay on a user's own GPT-SoVITS checkout: no fork, no edited upstream files.

``accelerate(tts)`` (hook.py) swaps the project's runtimes into upstream's ``TTS`` object as the ``gsv_trt:`` section
of its tts_infer.yaml says (config.py); ``gsv-trt gpt-sovits api_v2`` starts upstream's api_v2 with it applied.
``upstream.py`` finds a checkout and makes its modules importable the way upstream's scripts expect;
``random_models/`` writes random-weight model files in upstream's own layouts (tests, benchmarks).
"""

from .config import OverlayConfig, read_overlay_config

__all__ = ["Overlay", "OverlayConfig", "accelerate", "read_overlay_config"]


def __getattr__(name: str):
    """``accelerate`` and ``Overlay`` load torch and the synthesis stage: only when asked for (the launcher's
    argument errors and the config reader stay quick)."""
    if name in ("accelerate", "Overlay"):
        from . import hook

        return getattr(hook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
