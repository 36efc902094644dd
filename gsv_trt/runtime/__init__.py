"""Runtimes that turn mels into audio: PyTorch eager (the reference), ONNX Runtime, TensorRT engines, and the
fused PyTorch path. Importing this package does not import torch."""
