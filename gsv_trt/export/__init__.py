"""Stage 2: our PyTorch vocoders -> validated ONNX graphs (dynamic batch and frames, strongly typed)."""
