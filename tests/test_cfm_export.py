"""The CFM as ONNX: two graphs (conditioner once per call, one Euler step) with dynamic batch and frames, fp32 I/O,
metadata inside, strongly typed fp16 with fp32 islands; and ``gsv-trt check`` comparing them with PyTorch fp32
through Polygraphy. A reduced-width DiT keeps this quick; ``make engine`` exports the full-size one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from cfm_graphs import small_cfm, small_pair
from gsv_trt.cli import main
from gsv_trt.errors import GsvTrtError
from gsv_trt.export.cfm.check import check_cfm
from gsv_trt.export.cfm.exporter import pair_paths
from gsv_trt.export.cfm.pair import read_pair
from gsv_trt.export.cfm.precision import ISLANDS, parse_islands, with_precision
from gsv_trt.export.metadata import ANY, read_metadata
from gsv_trt.runtime.cfm import euler
from gsv_trt.runtime.cfm.onnx_runtime import OnnxRuntimeCFM
from gsv_trt.runtime.cfm.torch_eager import TorchEagerCFM


def dims(value) -> list:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def test_graphs_have_the_agreed_inputs_outputs_and_metadata():
    condition, step = small_pair("fp32")
    cfg = small_cfm().model.estimator.cfg
    want = {condition: ([("mu", ["batch", "frames", cfg.text_dim]), ("dt", ["batch"])],
                        [("text", ["batch", "frames", cfg.text_dim]), ("dt_emb", ["batch", cfg.dim])]),
            step: ([("x", ["batch", 100, "frames"]), ("prompt_x", ["batch", 100, "frames"]), ("t", ["batch"]),
                    ("text", ["batch", "frames", cfg.text_dim]), ("dt_emb", ["batch", cfg.dim])],
                   [("v", ["batch", 100, "frames"])])}
    for path, (inputs, outputs) in want.items():
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert [(v.name, dims(v)) for v in model.graph.input] == inputs
        assert [(v.name, dims(v)) for v in model.graph.output] == outputs
        assert {v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)} == {1}  # float32
        assert "RANDOM weights" in model.doc_string
    meta = read_metadata(step, ANY)
    assert meta["component"] == "cfm-step" and meta["pair"] == condition.name and meta["version"] == "v4"
    assert meta["weights"] == "random" and meta["weights_sha256"] == small_cfm().weights_sha256
    assert json.loads(meta["cfm_config"]) == cfg.to_dict()
    assert read_pair(condition) == read_pair(step)


def test_fp32_graphs_match_pytorch_at_several_lengths_and_batches(capsys):
    """Polygraphy, ONNX-Runtime vs our fp32 DiT: T 17, 250, 934, 1000 and B 1, 3, speech-derived inputs."""
    assert check_cfm(small_pair("fp32")[1], loaded=small_cfm())
    printed = capsys.readouterr().out
    for batch in (1, 3):
        for frames in (17, 250, 934, 1000):
            assert f"PASS  speech B={batch} T={frames} " in printed
    assert "max |onnx - pytorch fp32| <= 0.0001" in printed and "PASS  responds to conditioning" in printed
    maxima = [float(line.split(" max ")[1].split()[0]) for line in printed.splitlines() if line.startswith("  PASS")
              and " max " in line]
    assert len(maxima) == 3 * 9 and max(maxima) <= 1e-4


def test_euler_loop_over_onnxruntime_equals_the_pytorch_cfm():
    """8 Euler steps on ONNX-Runtime from the same noise as PyTorch eager: within 1e-4."""
    rng = np.random.default_rng(0)
    cfg = small_cfm().model.estimator.cfg
    mu = rng.standard_normal((3, 120, cfg.text_dim)).astype(np.float32)
    prompt = rng.standard_normal((1, 100, 40)).astype(np.float32)
    noise = rng.standard_normal((3, 100, 120)).astype(np.float32)
    runtime = OnnxRuntimeCFM(small_pair("fp32")[0])
    got = euler.inference(runtime, mu, prompt, 8, noise)
    want = euler.inference(TorchEagerCFM(small_cfm()), mu, prompt, 8, noise)
    assert runtime.info.name == "onnxruntime" and "RANDOM" in runtime.info.detail
    assert np.abs(got - want).max() <= 1e-4 and np.abs(want).mean() > 0.1
    on_torch = runtime.step(*(torch.from_numpy(a) for a in (noise, noise, np.ones(3, np.float32),
                                                             *runtime.condition(mu, np.ones(3, np.float32)))))
    assert isinstance(on_torch, torch.Tensor)  # torch in, torch out


def test_fp16_graph_is_strongly_typed_with_fp32_islands(capsys):
    condition, step = small_pair("fp16")
    first_input: dict[str, set] = {}  # op -> element types of its first input, over both graphs
    for path in (condition, step):
        model = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
        types_of = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
        types_of.update({i.name: i.data_type for i in model.graph.initializer})
        for node in model.graph.node:
            first_input.setdefault(node.op_type, set()).add(types_of.get(node.input[0]))
    fp32, fp16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    for op in ("LayerNormalization", "Softmax", "Cos", "Sin", "ReduceL2"):  # norm/adaln, softmax, rope, grn
        assert first_input[op] == {fp32}, op
    assert fp16 in first_input["MatMul"] and fp16 in first_input["Conv"]  # the bulk computes in fp16
    assert read_metadata(step, ANY)["fp32_islands"] == "norm,adaln,rope,softmax"
    assert read_metadata(condition, ANY)["fp32_islands"] == "norm,grn"
    assert check_cfm(step, loaded=small_cfm(), frames=(17, 1000), batches=(3,))
    printed = capsys.readouterr().out
    assert "runs fp16 graphs largely in fp32" in printed and "mean |onnx - pytorch fp32| <= 0.002" in printed


def test_islands_are_chosen_by_name():
    assert parse_islands("all", "fp16") == ISLANDS and parse_islands("none", "fp16") == ()
    assert parse_islands("rope,norm", "fp16") == ("norm", "rope")
    assert parse_islands("default", "fp16") == ("norm", "adaln", "rope", "softmax", "grn")
    assert parse_islands("default", "bf16") == ISLANDS  # TensorRT-RTX has no bf16 Mish
    with pytest.raises(GsvTrtError, match="fp32 islands attention: unknown; choose from norm, adaln"):
        parse_islands("norm,attention", "fp16")
    dit = small_cfm().model.estimator
    bare, _ = with_precision(dit, "fp16", ())
    assert {p.dtype for p in bare.parameters()} == {torch.float16}
    rope_only, _ = with_precision(dit, "fp16", ("rope",))
    assert rope_only.rotary_embed.inner.inv_freq.dtype == torch.float32
    assert {p.dtype for p in rope_only.parameters()} == {torch.float16}  # RoPE has a buffer, no weights
    assert dit.transformer_blocks[0].attn.to_q.weight.dtype == torch.float32  # the caller's model is untouched


def test_a_graph_that_ignores_its_conditioning_fails_the_check(tmp_path, capsys):
    """The step graph's prompt and text inputs multiplied by zero before use: the check must say FAIL."""
    condition, step = small_pair("fp32")
    model = onnx.load(str(step))
    zero = onnx.helper.make_tensor("zero", onnx.TensorProto.FLOAT, [], [0.0])
    model.graph.initializer.append(zero)
    for name in ("prompt_x", "text"):
        for node in model.graph.node:
            node.input[:] = [f"{name}_ignored" if i == name else i for i in node.input]
        model.graph.node.insert(0, onnx.helper.make_node("Mul", [name, "zero"], [f"{name}_ignored"]))
    onnx.save(model, str(tmp_path / step.name))
    shutil.copy(condition, tmp_path / condition.name)
    assert not check_cfm(tmp_path / step.name, loaded=small_cfm(), frames=(17,), batches=(1,))
    printed = capsys.readouterr().out
    assert "FAIL  responds to conditioning" in printed and "FAILED" in printed


def test_cli_checks_either_graph_of_the_pair(capsys):
    assert main(["check", str(small_pair("fp32")[0]), "--frames", "17,40", "--batches", "1"]) == 0
    printed = capsys.readouterr().out
    assert "PASSED" in printed and "(v4 CFM, fp32, fp32 islands: none)" in printed


def test_pair_problems_are_one_line_errors(tmp_path):
    condition, step = small_pair("fp32")
    from gsv_trt.runtime.vocoder.onnx_runtime import OnnxRuntimeVocoder

    with pytest.raises(GsvTrtError, match="a cfm-step graph; this takes vocoder graphs"):
        OnnxRuntimeVocoder(step)
    lonely = tmp_path / step.name
    lonely.write_bytes(step.read_bytes())
    with pytest.raises(GsvTrtError, match="its partner graph .*-cfm-condition-fp32-random.onnx is missing"):
        read_pair(lonely)
    (tmp_path / condition.name).write_bytes(small_pair("fp16")[0].read_bytes())  # the fp16 conditioner
    with pytest.raises(GsvTrtError, match="exported with another precision"):
        OnnxRuntimeCFM(lonely)
    with pytest.raises(GsvTrtError, match="must end in .onnx"):
        pair_paths(tmp_path / "x.txt")
    with pytest.raises(GsvTrtError, match="not the weights asked for"):
        OnnxRuntimeCFM(step, weights_sha256="ab" * 32)


def test_estimator_inputs_are_checked_in_one_line():
    runtime = OnnxRuntimeCFM(small_pair("fp32")[1])
    cfg = runtime.config
    mu, dt = np.zeros((2, 50, cfg.text_dim), np.float32), np.zeros(2, np.float32)
    with pytest.raises(GsvTrtError, match=r"dt: expected shape \[B\] \(B, T of mu\), got \[3\]"):
        runtime.condition(mu, np.zeros(3, np.float32))
    with pytest.raises(GsvTrtError, match="mu: expected float32, got float64"):
        runtime.condition(mu.astype(np.float64), dt)
    with pytest.raises(GsvTrtError, match="T=4097 frames exceeds the 4096-frame position table"):
        runtime.condition(np.zeros((1, 4097, cfg.text_dim), np.float32), dt[:1])
    text, dt_emb = runtime.condition(mu, dt)
    x = np.zeros((2, 100, 50), np.float32)
    with pytest.raises(GsvTrtError, match=r"text: expected shape \[B, T, 32\]"):
        runtime.step(x, x, dt, text[:, :40], dt_emb)


def test_a_graph_of_other_weights_is_replaced_only_with_force(tmp_path, capsys):
    from gsv_trt.build.engines import guard_replacement

    held = tmp_path / "mine-cfm-condition.onnx"
    model = onnx.load(str(small_pair("fp32")[0]))
    for prop in model.metadata_props:  # as if exported from a fine-tune
        prop.value = {"gsv_trt.weights_sha256": "cd" * 32, "gsv_trt.weights": "/models/my-voice.pth"}.get(prop.key,
                                                                                                         prop.value)
    onnx.save(model, str(held))
    loaded = small_cfm()
    with pytest.raises(GsvTrtError, match=r"holds weights /models/my-voice.pth \(sha256 cdcdcdcdcdcd\), not RANDOM "
                                          "weights; pass --force to replace it"):
        guard_replacement(held, loaded.weights, loaded.weights_sha256, force=False)
    guard_replacement(held, loaded.weights, loaded.weights_sha256, force=True)
    assert f"replacing {held}, exported from weights /models/my-voice.pth" in capsys.readouterr().err
    guard_replacement(small_pair("fp16")[0], "random", "ef" * 32, force=False)  # random over random: fine
