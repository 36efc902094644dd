"""The HuBERT directory (``chinese-hubert-base`` layout) from a small transformers config, built locally.

Upstream's CNHubert loads ``HubertModel.from_pretrained`` and ``Wav2Vec2FeatureExtractor.from_pretrained`` (both
``local_files_only``) and feeds ``last_hidden_state`` to SoVITS's ``ssl_proj``: the width must stay 768 and the
convolutional front end must keep its strides (320 samples, 20 ms at 16 kHz, per frame); depth and the conv
channels are reduced, unless ``full_size`` (chinese-hubert-base's real size: 12 layers, 512 conv channels, 3072-wide
feed-forward, 94 M parameters; for benchmarks).
"""

from __future__ import annotations

from pathlib import Path

import torch

SEED = 6


def write_hubert(path: Path, layers: int = 2, conv_channels: int = 64, seed: int = SEED,
                 full_size: bool = False) -> Path:
    """Write config.json, the weights and preprocessor_config.json into directory ``path`` (``full_size``: the real
    sizes, whatever ``layers`` and ``conv_channels`` say)."""
    if full_size:
        layers, conv_channels = 12, 512
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    path.mkdir(parents=True, exist_ok=True)
    config = HubertConfig(hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
                          intermediate_size=3072 if full_size else 1024,
                          conv_dim=(conv_channels,) * 7, feat_extract_norm="group", do_stable_layer_norm=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HubertModel(config).eval()
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=False).save_pretrained(path)
    return path
