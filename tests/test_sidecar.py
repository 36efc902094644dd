"""The engine sidecar: cache key over the build inputs, and detection of stale, edited or mismatched sidecars.

Engines here are stand-in plan files (bytes) with sidecars shaped like the builder's; test_build.py checks the
builder writes exactly such sidecars for real engines.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gsv_trt.build.sidecar import (FORMAT, KEY_FIELDS, cache_key, changed_inputs, read_sidecar, reuse_reason,
                                   sidecar_path, write_sidecar)
from gsv_trt.errors import GsvTrtError

INPUTS = {
    "model": {"vocoder": "v3", "hop": 256, "sample_rate": 24000, "weights_sha256": "random"},
    "onnx_sha256": "ab" * 32,
    "precision": "fp16",
    "fp32_islands": ["snake", "output"],
    "profiles": [{"name": "short", "batch": [1, 1, 8], "frames": [1, 1000, 1024]},
                 {"name": "long", "batch": [1, 1, 1], "frames": [1025, 3728, 16384]}],
    "tensorrt": {"flavour": "rtx", "module": "tensorrt_rtx", "version": "1.7.1.116"},
    "targets": {"compute_capabilities": ["8.0", "8.6", "8.9", "12.0", "12.1"], "gpu": None},
    "options": {"workspace_bytes": None, "tf32": False},
}


def make_engine(directory: Path, name: str = "engine", payload: bytes = b"serialized engine", **changes) -> Path:
    """A plan file and a consistent sidecar whose build inputs are INPUTS updated with ``changes``."""
    plan = directory / f"{name}.plan"
    plan.write_bytes(payload)
    inputs = {**INPUTS, **changes}
    write_sidecar(plan, {
        "format": FORMAT, "cache_key": cache_key(inputs), **inputs,
        "engine": {"file": plan.name, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()},
        "io": {"inputs": [{"name": "mel", "dtype": "float32", "shape": [-1, 100, -1]}],
               "outputs": [{"name": "wav", "dtype": "float32", "shape": [-1, 1, -1]}]},
        "sources": {"onnx": "engines/x.onnx", "weights": "random"},
        "build": {"seconds": 1.0, "finished_at": "2026-01-01T00:00:00+00:00"},
    })
    return plan


def edit_sidecar(plan: Path, **fields) -> None:
    path = sidecar_path(plan)
    sidecar = json.loads(path.read_text())
    sidecar.update(fields)
    path.write_text(json.dumps(sidecar))


def test_consistent_engine_reads_back(tmp_path):
    plan = make_engine(tmp_path)
    sidecar = read_sidecar(plan)
    assert sidecar_path(plan) == tmp_path / "engine.json"
    assert sidecar["precision"] == "fp16" and sidecar["cache_key"] == cache_key(INPUTS)


def test_cache_key_covers_every_build_input_and_nothing_else():
    base = cache_key(INPUTS)
    assert cache_key({**INPUTS, "sources": {"onnx": "elsewhere.onnx"}, "build": {"seconds": 99}}) == base
    for field in KEY_FIELDS:
        changed = {**INPUTS, field: "something else"}
        assert cache_key(changed) != base, field
        assert changed_inputs(INPUTS, changed) == [field]


@pytest.mark.parametrize("field, value", [
    ("onnx_sha256", "cd" * 32),  # ONNX re-exported / edited
    ("model", {**INPUTS["model"], "weights_sha256": "12" * 32}),  # other weights
    ("tensorrt", {**INPUTS["tensorrt"], "version": "1.8.0.1"}),  # TensorRT upgraded
    ("targets", {"compute_capabilities": ["7.5"], "gpu": None}),  # other GPUs
    ("precision", "fp32"),
])
def test_changed_input_means_rebuild(tmp_path, field, value):
    plan = make_engine(tmp_path)
    assert reuse_reason(plan, INPUTS) == (True, "inputs unchanged")
    reusable, reason = reuse_reason(plan, {**INPUTS, field: value})
    assert not reusable and reason == f"{field} changed"


def test_no_engine_yet(tmp_path):
    assert reuse_reason(tmp_path / "absent.plan", INPUTS) == (False, "no engine yet")


def test_missing_or_unreadable_sidecar(tmp_path):
    plan = make_engine(tmp_path)
    sidecar_path(plan).write_text("{not json")
    with pytest.raises(GsvTrtError, match=r"engine\.json: not valid JSON"):
        read_sidecar(plan)
    sidecar_path(plan).unlink()
    with pytest.raises(GsvTrtError, match=r"engine\.json: missing"):
        read_sidecar(plan)
    reusable, reason = reuse_reason(plan, INPUTS)
    assert not reusable and "unusable" in reason and "missing" in reason


def test_sidecar_of_another_format_or_incomplete(tmp_path):
    plan = make_engine(tmp_path)
    edit_sidecar(plan, format="gsv-trt-engine/0")
    with pytest.raises(GsvTrtError, match="is not 'gsv-trt-engine/1'"):
        read_sidecar(plan)
    plan = make_engine(tmp_path)
    sidecar = json.loads(sidecar_path(plan).read_text())
    del sidecar["io"], sidecar["targets"]
    sidecar_path(plan).write_text(json.dumps(sidecar))
    with pytest.raises(GsvTrtError, match="incomplete sidecar, missing targets, io"):
        read_sidecar(plan)


def test_hand_edited_build_input_is_caught(tmp_path):
    plan = make_engine(tmp_path)
    edit_sidecar(plan, precision="fp32")  # claims fp32 without a rebuild
    with pytest.raises(GsvTrtError, match="cache_key does not match"):
        read_sidecar(plan)


def test_plan_replaced_without_its_sidecar(tmp_path):
    plan = make_engine(tmp_path, payload=b"engine one")
    plan.write_bytes(b"engine two")  # same size, other bytes
    with pytest.raises(GsvTrtError, match="sha256 of engine.plan differs"):
        read_sidecar(plan)
    plan.write_bytes(b"a longer engine")
    with pytest.raises(GsvTrtError, match="describes a 10-byte engine but engine.plan has 15 bytes"):
        read_sidecar(plan)


def test_sidecar_copied_from_another_engine(tmp_path):
    v3 = make_engine(tmp_path, "v3", b"v3 engine bytes")
    v4 = make_engine(tmp_path, "v4", b"v4 engine bytes!", model={**INPUTS["model"], "vocoder": "v4", "hop": 480})
    sidecar_path(v3).write_text(sidecar_path(v4).read_text())
    with pytest.raises(GsvTrtError, match="belongs to another engine"):
        read_sidecar(v3)


def test_missing_plan(tmp_path):
    with pytest.raises(GsvTrtError, match="no such engine file"):
        read_sidecar(tmp_path / "gone.plan")


def test_a_truncated_plan_names_the_command_that_rebuilds_it(tmp_path):
    plan = make_engine(tmp_path, payload=b"serialized engine, all of it")
    plan.write_bytes(b"serialized")
    with pytest.raises(GsvTrtError) as error:
        read_sidecar(plan)
    message = str(error.value)
    assert "truncated or replaced" in message and "\n" not in message
    assert message.endswith(f"rebuild: gsv-trt engine --version v3 --precision fp16 --stage vocoder --out-dir "
                            f"{tmp_path} --trt rtx --force")
    onnx = tmp_path / "x.onnx"
    onnx.write_bytes(b"graph")
    edit_sidecar(plan, sources={"onnx": str(onnx), "weights": "/models/v3"})  # the ONNX is still there
    with pytest.raises(GsvTrtError, match=f"rebuild: gsv-trt build {onnx} --out {plan} --trt rtx --force$"):
        read_sidecar(plan)
