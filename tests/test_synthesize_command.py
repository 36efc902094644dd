"""``gsv-trt synthesize``: a request to a float32 WAV with random weights, and one-line refusals that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from gsv_trt.cli import main
from gsv_trt.models.mel import shipped_speech
from gsv_trt.models.sovits.frontend import feature_frames

REQUEST = {"ref_audio": "ref.wav", "prompt_semantic": list(range(5, 80)), "prompt_phones": list(range(10, 30)),
           "segments": [{"semantic": [100, 101, 102, 103], "phones": [1, 2, 3]},
                        {"semantic": [7, 8, 9], "phones": [5, 6]}],
           "speed": 1.0}


def write_clip(path, seconds: float) -> None:
    """``seconds`` of the shipped 5.9 s LibriTTS clip, repeated when longer."""
    samples, rate = sf.read(shipped_speech(), dtype="int16")
    n = int(seconds * rate)
    sf.write(path, np.resize(samples, n), rate, subtype="PCM_16")


@pytest.fixture
def request_dir(tmp_path):
    """A valid request (two short segments, a 3.2 s reference beside it) in tmp_path."""
    write_clip(tmp_path / "ref.wav", 3.2)
    (tmp_path / "req.json").write_text(json.dumps(REQUEST))
    return tmp_path


def cli(directory, *extra: str) -> list[str]:
    return ["synthesize", "--version", "v4", "--request", str(directory / "req.json"),
            "--out", str(directory / "out.wav"), *extra]


@pytest.mark.slow
def test_random_weights_write_the_segments_back_to_back(request_dir, capsys):
    # full-size random front end, CFM and vocoder on the CPU; sequential keeps the CFM at prompt + segment frames
    assert main(cli(request_dir, "--path", "sequential", "--steps", "4", "--seed", "3", "--device", "cpu")) == 0
    audio, rate = sf.read(request_dir / "out.wav", dtype="float32")
    assert sf.info(request_dir / "out.wav").subtype == "FLOAT" and rate == 48000
    frames = sum(feature_frames(len(s["semantic"]), "v4") for s in REQUEST["segments"])
    assert len(audio) == frames * 480  # no silence between segments
    assert np.abs(audio).max() > 0.01
    out = capsys.readouterr().out
    assert "cfm: torch-eager fp32 on cpu" in out and "vocoder: torch-eager fp32 on cpu" in out
    assert "RANDOM weights: front end, cfm, vocoder" in out and "real-time factor" in out


def spoil(change):
    def apply(directory):
        request = json.loads(json.dumps(REQUEST))
        change(request)
        (directory / "req.json").write_text(json.dumps(request))
    return apply


def raw_request(text: str):
    def apply(directory):
        (directory / "req.json").write_text(text)
    return apply


def reference(seconds: float | None):
    def apply(directory):
        if seconds is None:
            (directory / "ref.wav").write_bytes(b"RIFF not really a wave file")
        else:
            write_clip(directory / "ref.wav", seconds)
    return apply


BAD = {  # name: (how to spoil the valid request, what the one-line error must say)
    "request missing": (lambda d: (d / "req.json").unlink(), "no such request file"),
    "not json": (raw_request("{segments: ["), "not valid JSON"),
    "not an object": (raw_request("[1, 2]"), "expected a JSON object"),
    "field missing": (spoil(lambda r: r.pop("prompt_phones")), "missing field 'prompt_phones'"),
    "no segments": (spoil(lambda r: r.update(segments=[])), "segments: expected a non-empty list"),
    "empty segment": (spoil(lambda r: r["segments"][1].update(semantic=[])), "segments[1].semantic: empty"),
    "token out of codebook": (spoil(lambda r: r["segments"][0].update(semantic=[3, 1024])),
                              "segments[0].semantic[1]: 1024 is outside the codebook of 1024 tokens"),
    "negative prompt token": (spoil(lambda r: r.update(prompt_semantic=[-1, 2])),
                              "prompt_semantic[0]: -1 is outside the codebook"),
    "phone out of table": (spoil(lambda r: r["segments"][1].update(phones=[5, 732])),
                           "segments[1].phones[1]: 732 is outside the symbol table of 732 phones"),
    "phones not integers": (spoil(lambda r: r.update(prompt_phones=[1.5])),
                            "prompt_phones: expected a list of integers"),
    "zero speed": (spoil(lambda r: r.update(speed=0)), "speed: expected a number > 0, got 0"),
    "negative speed": (spoil(lambda r: r.update(speed=-1.25)), "speed: expected a number > 0"),
    "reference missing": (lambda d: (d / "ref.wav").unlink(), "ref.wav: no such audio file"),
    "reference unreadable": (reference(None), "ref.wav: not a readable audio file"),
    "reference too short": (reference(2.5), "reference audio lasts 2.50 s; GPT-SoVITS needs 3 to 10 s"),
    "reference too long": (reference(10.5), "reference audio lasts 10.50 s"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_requests_are_one_line_errors_and_write_nothing(case, request_dir, capsys):
    spoil_request, message = BAD[case]
    spoil_request(request_dir)
    assert main(cli(request_dir, "--device", "cpu")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsv-trt synthesize: error: ") and "\n" not in err
    assert message in err
    assert not (request_dir / "out.wav").exists()


@pytest.mark.parametrize("extra, message", [
    (("--runtime", "torch-fast", "--device", "cpu"), "runtime torch-fast: needs a CUDA GPU"),
    (("--runtime", "tensorrt", "--device", "cpu"), "runtime tensorrt: needs a CUDA GPU (device is cpu)"),
])
def test_runtimes_that_cannot_run_are_refused_before_loading(extra, message, request_dir, capsys):
    assert main(cli(request_dir, *extra, "--engine-dir", str(request_dir / "engines"))) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (request_dir / "out.wav").exists() and not (request_dir / "engines").exists()


def test_output_must_be_a_wav_in_an_existing_folder(request_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synthesize", "--version", "v4", "--request", str(request_dir / "req.json"),
              "--out", str(request_dir / "out.mp3")])
    assert exit_info.value.code == 2 and ".wav" in capsys.readouterr().err
    args = ["synthesize", "--version", "v4", "--request", str(request_dir / "req.json"),
            "--out", str(request_dir / "nowhere" / "out.wav"), "--device", "cpu"]
    assert main(args) == 2 and "does not exist" in capsys.readouterr().err
