"""One naming scheme for every exported graph and engine, keyed by the weights inside, and the rule that keeps a
file made from other weights from being overwritten.

``gpt-sovits-{version}-{component}-{precision}-{key}`` with ``key`` = ``random`` or the first 12 hex digits of the
weights' sha256 (for the CFM: of the merged ``cfm.*`` tensors, so every fine-tune gets its own files). ``gsv-trt
engine`` (``make engine``) and ``gsv-trt optimize`` use the same names, so they share one cache in ``engines/``.
Export options that do not change the weights (fp32 islands) are not in the name: a changed option rebuilds in
place, and the sidecar says what changed.
"""

from __future__ import annotations

from pathlib import Path

RANDOM = "random"
COMPONENTS = ("vocoder", "cfm-condition", "cfm-step")


def weights_key(weights_sha256: str, is_random: bool) -> str:
    """``random`` or the sha256's first 12 hex digits."""
    return RANDOM if is_random else weights_sha256[:12]


def artifact_stem(version: str, component: str, precision: str, key: str) -> str:
    """The file stem shared by a graph, its engine and the engine's sidecar."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}")
    return f"gpt-sovits-{version}-{component}-{precision}-{key}"


def describe_weights(weights: str, weights_sha256: str) -> str:
    return "RANDOM weights" if weights == RANDOM else f"weights {weights} (sha256 {weights_sha256[:12]})"


def replacement_problem(path: Path, held: tuple[str, str], new: tuple[str, str]) -> str | None:
    """Why writing ``new`` weights over ``path`` (which holds ``held``) needs ``--force``; None when it does not.

    ``held`` and ``new`` are (weights, weights_sha256). Replacing random weights by random weights is always fine:
    nothing of value is lost (random weights change with gsv-trt versions, their sha256 with them).
    """
    (held_weights, held_sha), (new_weights, new_sha) = held, new
    if held_sha == new_sha or (held_weights == RANDOM and new_weights == RANDOM):
        return None
    return (f"{path} holds {describe_weights(held_weights, held_sha)}, not {describe_weights(new_weights, new_sha)}; "
            "pass --force to replace it, or write elsewhere")
