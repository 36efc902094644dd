"""CFM runtimes: estimators (PyTorch eager, ONNX-Runtime, TensorRT) behind one protocol, the Euler loop over any of
them, and the torch-fast whole-loop path. Importing this package does not import torch."""
