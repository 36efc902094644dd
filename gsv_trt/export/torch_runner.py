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
    """Runs ``model`` (fp32, eval) on ``device`` for feeds {input_name: array}; output named ``output_name``."""

    def __init__(self, model: torch.nn.Module, input_name: str, output_name: str, device: str = "cpu",
                 name: str = "pytorch-fp32"):
        super().__init__(name=name, prefix="pytorch-runner")
        self._model = model
        self._input_name = input_name
        self._output_name = output_name
        self._device = torch.device(device)

    def activate_impl(self):
        self._model.eval().to(self._device)

    def get_input_metadata_impl(self):
        return TensorMetadata().add(self._input_name, np.float32, ("batch", 100, "frames"))

    def infer_impl(self, feed_dict):
        x = torch.from_numpy(np.ascontiguousarray(feed_dict[self._input_name])).to(self._device)
        start = time.time()
        with torch.inference_mode():
            y = self._model(x)
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        self.inference_time = time.time() - start
        return OrderedDict([(self._output_name, y.float().cpu().numpy())])

    def deactivate_impl(self):
        pass
