"""CLI commands, one module each, discovered by ``gsv_trt.cli``.

Each module defines ``register(subparsers)``, which adds its parser via ``_common.add_command`` and sets
``run=function(args) -> int``. Heavy imports (torch, tensorrt, onnxruntime) happen inside ``run`` so that
``gsv-trt --help`` stays fast. Modules whose names start with ``_`` are helpers, not commands.
"""
