"""Our own implementations of the GPT-SoVITS v3/v4 synthesis models and the loaders for upstream's checkpoint files:
``vocoder/`` (BigVGAN-v2, the v4 Generator), ``cfm/`` (the CFM mel generator and its DiT)."""
