"""Side-by-side measurement of the original (PyTorch eager, as upstream runs it) and every optimised runtime that can
run on this machine, plus ``optimize``: export, build, gate with fallback, benchmark, in one go."""
