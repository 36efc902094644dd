"""A Polygraphy runner for our PyTorch model, so Polygraphy's Comparator can put it beside ONNX-Runtime.

Polygraphy's own ``PytRunner`` moves inputs to CUDA unconditionally and iterates a single output tensor along its
batch axis, so it cannot serve as the fp32 CPU reference here.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import torch
from polygraphy.backend.base import BaseRunner
from polygraphy.common import TensorMetadata


class TorchRunner(BaseRunner):
    """Runs ``model`` (fp32, eval) on ``device`` for feeds {input_name: array}; output named ``output_name``.

    Several inputs and outputs: pass tuples of names (the model takes the inputs in that order and returns a tuple)
    and ``input_dims`` {name: dims} for Polygraphy's metadata (default: every input a mel [batch, 100, frames])."""

    def __init__(self, model: torch.nn.Module, input_name: str | tuple[str, ...], output_name: str | tuple[str, ...],
                 device: str = "cpu", name: str = "pytorch-fp32", input_dims: dict[str, tuple] | None = None):
        super().__init__(name=name, prefix="pytorch-runner")
        self._model = model
        self._inputs = (input_name,) if isinstance(input_name, str) else tuple(input_name)
        self._outputs = (output_name,) if isinstance(output_name, str) else tuple(output_name)
        self._dims = input_dims or {n: ("batch", 100, "frames") for n in self._inputs}
        self._device = torch.device(device)

    def activate_impl(self):
        self._model.eval().to(self._device)

    def get_input_metadata_impl(self):
        metadata = TensorMetadata()
        for name in self._inputs:
            metadata.add(name, np.float32, self._dims[name])
        return metadata

    def infer_impl(self, feed_dict):
        xs = [torch.from_numpy(np.ascontiguousarray(feed_dict[n])).to(self._device) for n in self._inputs]
        start = time.time()
        with torch.inference_mode():
            ys = self._model(*xs)
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        self.inference_time = time.time() - start
        ys = ys if isinstance(ys, tuple) else (ys,)
        return OrderedDict((n, y.float().contiguous().cpu().numpy()) for n, y in zip(self._outputs, ys))

    def deactivate_impl(self):
        pass


def run_both(runners: list[BaseRunner], feed: dict, precision: str, what: str):
    """``Comparator.run`` of ``runners`` on one feed; ONNX-Runtime lacking a kernel for ``precision`` becomes one
    line naming ``what`` (the graph) instead of Polygraphy's exception."""
    from polygraphy.comparator import Comparator

    from ..errors import GsvTrtError

    try:
        return Comparator.run(runners, data_loader=[feed])
    except Exception as e:  # Polygraphy reports runtime failures (e.g. kernels missing) as PolygraphyException
        if "NOT_IMPLEMENTED" in str(e):
            raise GsvTrtError(f"{what}: ONNX-Runtime's CPU provider has no {precision} kernel for an op in this "
                              "graph, so it cannot be checked numerically here") from None
        raise
