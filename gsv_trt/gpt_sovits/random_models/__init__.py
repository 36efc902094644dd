"""Random-weight model files in upstream GPT-SoVITS's own layouts, so that upstream's ``TTS`` and api_v2 run
without the pretrained downloads. ``write_workspace`` makes a whole runnable tree (workspace.py lists the files);
the other modules write one file or directory each. Names and shapes come from the checkout's own classes
(schema.py); every value from seeded generators, so the same files come out on every machine."""

from .workspace import RandomWorkspace, write_workspace

__all__ = ["RandomWorkspace", "write_workspace"]
