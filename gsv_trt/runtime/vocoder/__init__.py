"""Vocoder runtimes: PyTorch eager (the reference), torch-fast, ONNX-Runtime and TensorRT engines."""
