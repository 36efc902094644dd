"""Stage 2: our PyTorch vocoders and CFM -> validated ONNX graphs (dynamic batch and frames, strongly typed), named
by the weights inside (``artifacts``)."""
