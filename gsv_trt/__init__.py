"""gsv-trt: compile GPT-SoVITS v3/v4 vocoders to ONNX and TensorRT, run, check and benchmark them."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``gsv_trt.open_vocoder`` (runtime/vocoder/open.py), imported on first use so that ``import gsv_trt`` and
    ``gsv-trt --help`` stay light."""
    if name == "open_vocoder":
        from .runtime.vocoder.open import open_vocoder

        return open_vocoder
    raise AttributeError(f"module 'gsv_trt' has no attribute {name!r}")
