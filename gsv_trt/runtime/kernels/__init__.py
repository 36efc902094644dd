"""GPU kernels (Triton), kept apart from the runtimes that call them."""
