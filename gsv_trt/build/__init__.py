"""Stage 3: ONNX -> TensorRT engine (``.plan``) with a JSON sidecar, through the TensorRT builder API, for full
TensorRT (built on the target GPU) or TensorRT-RTX (built ahead of time, GPU or not). Importing this package does
not import torch or TensorRT."""
