"""`gsv-trt vocode` and `gsv_trt.open_vocoder`: any runtime, one call, a WAV you can listen to (issue 15, items 8-9)."""

import warnings

import numpy as np
import pytest
import soundfile
import torch

from gsv_trt import open_vocoder
from gsv_trt.cli import main
from gsv_trt.errors import GsvTrtError
from gsv_trt.export.vocoder.exporter import export_onnx
from gsv_trt.models.mel import load_wav, shipped_speech, speech_mel
from gsv_trt.models.vocoder import load_vocoder, spec_for

FRAMES = 24
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def v4():
    return load_vocoder("v4")


@pytest.fixture(scope="module")
def mel() -> np.ndarray:
    return speech_mel(spec_for("v4").mel, max_frames=FRAMES)  # [1, 100, T] float32


@pytest.fixture(scope="module")
def v4_onnx(tmp_path_factory, v4):
    return export_onnx(v4, tmp_path_factory.mktemp("onnx") / "v4.onnx", "fp32")


def eager_reference(v4, mel: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return v4.model(torch.from_numpy(mel)).numpy()


def test_vocode_a_mel_with_eager_writes_a_float_wav_at_48khz(tmp_path, capsys, v4, mel):
    np.save(tmp_path / "mel.npy", mel[0])  # [100, T], as a user would save one
    out = tmp_path / "out.wav"
    assert main(["vocode", "--version", "v4", "--mel", str(tmp_path / "mel.npy"), "--out", str(out)]) == 0
    with soundfile.SoundFile(str(out)) as f:
        assert (f.samplerate, f.subtype, f.channels, f.frames) == (48000, "FLOAT", 1, FRAMES * 480)
        assert "RANDOM weights" in f.comment
        wav = f.read(dtype="float32")
    np.testing.assert_allclose(wav, eager_reference(v4, mel).ravel(), atol=1e-6)
    captured = capsys.readouterr()
    assert "torch-eager fp32 on cpu" in captured.out and "RANDOM" in captured.err


def test_vocode_resynthesises_speech_through_onnxruntime(tmp_path, capsys, v4, v4_onnx):
    speech = tmp_path / "speech.wav"
    soundfile.write(str(speech), load_wav(shipped_speech(), 24000)[:7200], 24000)  # 0.3 s
    out = tmp_path / "resynth.wav"
    assert main(["vocode", "--engine", str(v4_onnx), "--wav", str(speech), "--out", str(out)]) == 0
    wav, rate = soundfile.read(str(out), dtype="float32")
    frames = wav.size // 480
    assert rate == 48000 and frames == 0.3 * 32000 // 320
    assert "onnxruntime fp32 on cpu, v4" in capsys.readouterr().out
    reference = eager_reference(v4, speech_mel(spec_for("v4").mel, speech))
    np.testing.assert_allclose(wav, reference.ravel(), atol=1e-4)


@pytest.mark.parametrize("args, message", [
    (["--version", "v4", "--mel", "m.npy", "--out", "important.txt"], "argument --out: important.txt: the output "
                                                                      "file must end in .wav"),
    (["--version", "v4", "--mel", "m.npy", "--wav", "s.wav", "--out", "o.wav"], "not allowed with argument"),
])
def test_vocode_usage_errors_are_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["vocode", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--runtime", "tensorrt", "--version", "v4"], "--runtime tensorrt: give the file to run with --engine X.plan"),
    (["--runtime", "eager"], "--runtime eager: say which vocoder with --version v3|v4"),
    (["--engine", "{tmp}/x.plan", "--runtime", "onnxruntime"], "is for tensorrt, but --runtime is onnxruntime"),
    (["--engine", "{tmp}/missing.onnx"], "missing.onnx: no such file"),
    (["--engine", "{tmp}/v4.onnx", "--weights", "{tmp}/vocoder.pth"], "carries its own weights"),
    (["--version", "v4", "--mel", "{tmp}/bad.npy"], "shape [3, 7] is not a mel"),
    (["--version", "v4", "--mel", "{tmp}/two.npy"], "holds 2 mels"),
    (["--version", "v4", "--mel", "{tmp}/nothing.npy"], "nothing.npy: no such file"),
    (["--version", "v4", "--compile", "default"], "--compile default: only the torch-fast runtime compiles, not eager"),
])
def test_vocode_refuses_bad_arguments_and_writes_nothing(tmp_path, capsys, args, message):
    np.save(tmp_path / "mel.npy", np.zeros((100, 4), np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 7), np.float32))
    np.save(tmp_path / "two.npy", np.zeros((2, 100, 4), np.float32))
    for name in ("x.plan", "v4.onnx"):
        (tmp_path / name).write_bytes(b"not read before the arguments are checked")
    argv = [a.format(tmp=tmp_path) for a in args]
    if "--mel" not in argv:
        argv += ["--mel", str(tmp_path / "mel.npy")]
    out = tmp_path / "out.wav"
    assert main(["vocode", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_open_vocoder_converts_other_float_dtypes_with_a_warning(v4, mel):
    voc = open_vocoder("eager", "v4")
    assert (voc.sample_rate, voc.hop, voc.info.name) == (48000, 480, "torch-eager")
    with pytest.warns(UserWarning, match="float64 converted to float32"):
        out64 = voc(mel[0].astype(np.float64))  # [100, T] float64: batch axis added, dtype converted
    np.testing.assert_array_equal(out64, voc(mel))
    with pytest.warns(UserWarning, match="float16 converted"):
        assert voc(torch.from_numpy(mel).half()).dtype == torch.float32  # a tensor in, a tensor out


def test_open_vocoder_runs_a_graph_and_checks_what_it_holds(v4, v4_onnx, mel):
    with open_vocoder(v4_onnx) as voc:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # float32 in: no note
            out = voc(mel)
        assert voc.source.version == "v4" and voc.source.is_random and "RANDOM" in voc.provenance
        np.testing.assert_allclose(out, eager_reference(v4, mel), atol=1e-4)
    with pytest.raises(GsvTrtError, match="holds the v4 vocoder, but version v3"):
        open_vocoder(v4_onnx, version="v3")
    with pytest.raises(GsvTrtError, match="precision is fixed"):
        open_vocoder(v4_onnx, precision="fp16")
    with pytest.raises(GsvTrtError, match="expected an .onnx graph, a .plan engine, or one of eager"):
        open_vocoder("fast")
    with pytest.raises(GsvTrtError, match="only the torch-fast runtime compiles, not onnxruntime"):
        open_vocoder(v4_onnx, compile="default")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("runtime, compile", [("eager", "none"), ("torch-fast", "none"), ("torch-fast", "default")])
def test_open_vocoder_keeps_cuda_tensors_on_the_gpu(v4, mel, runtime, compile):
    voc = open_vocoder(runtime, "v4", precision="fp16", compile=compile)
    out = voc(torch.from_numpy(mel).cuda())
    assert out.is_cuda and out.dtype == torch.float32 and out.shape == (1, 1, FRAMES * 480)
    reference = eager_reference(v4, mel)
    err = out.cpu().numpy() - reference
    assert 10 * np.log10(np.sum(reference**2) / np.sum(err**2)) > 30  # fp16 of the same weights


@pytest.mark.gpu
@needs_cuda
def test_vocode_through_a_tensorrt_engine(tmp_path, v4, mel):
    pytest.importorskip("tensorrt", reason="full TensorRT not installed (pip install -e '.[tensorrt]')")
    assert main(["engine", "--version", "v4", "--precision", "fp16", "--trt", "tensorrt", "--no-check",
                 "--out-dir", str(tmp_path)]) == 0
    plan = next(tmp_path.glob("*.plan"))
    np.save(tmp_path / "mel.npy", mel)
    out = tmp_path / "trt.wav"
    assert main(["vocode", "--engine", str(plan), "--mel", str(tmp_path / "mel.npy"), "--out", str(out)]) == 0
    wav, rate = soundfile.read(str(out), dtype="float32")
    reference = eager_reference(v4, mel).ravel()
    assert rate == 48000 and 10 * np.log10(np.sum(reference**2) / np.sum((wav - reference) ** 2)) > 30
