"""gsv-trt: compile GPT-SoVITS v3/v4 vocoders to ONNX and TensorRT, run, check and benchmark them."""

__version__ = "0.1.0"
