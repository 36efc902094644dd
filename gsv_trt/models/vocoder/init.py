"""Upstream's weight initialisation (HiFi-GAN's ``init_weights``), so random-weight models have realistic scale."""

from torch import nn


def normal_conv_init(*modules: nn.Module, std: float = 0.01) -> None:
    """N(0, std) for every conv weight under ``modules``; biases keep torch's default, as upstream's do."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(m.weight, 0.0, std)
