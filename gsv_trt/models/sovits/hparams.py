"""Upstream's config object, read without upstream's code.

Training runs pickle a SoVITS file's ``config`` as ``utils.HParams`` (GPT_SoVITS/utils.py), so a plain unpickler
needs upstream's tree on ``sys.path`` (upstream issue #554). We map that one class path to :class:`HParamsRecord`,
which only receives attributes (``torch.load(weights_only=True)`` sets ``__dict__`` and calls no constructor), and
turn the result into plain dicts. Nothing else from the file can name a class.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

UPSTREAM_CLASS_PATH = "utils.HParams"


class HParamsRecord:
    """Stand-in for ``utils.HParams``: an attribute bag filled by the unpickler, read by :func:`plain_config`."""


def allow_hparams() -> AbstractContextManager:
    """While active, ``torch.load(weights_only=True)`` unpickles ``utils.HParams`` as :class:`HParamsRecord`."""
    return torch.serialization.safe_globals([(HParamsRecord, UPSTREAM_CLASS_PATH)])


def plain_config(obj: object) -> object:
    """``obj`` with every HParamsRecord (at any depth, in dicts, lists or tuples) turned into a dict."""
    if isinstance(obj, HParamsRecord):
        obj = vars(obj)
    if isinstance(obj, dict):
        return {k: plain_config(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_config(v) for v in obj)
    return obj
