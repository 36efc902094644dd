"""The quality gate's inputs: upstream-exact mels from the bundled clip and from user files at any rate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import spec_for
from gsv_trt.models.mel import shipped_speech
from gsv_trt.quality.mel import BUNDLED_ATTRIBUTION, default_clips, load_clip, log_mel, output_mel_settings


def first_samples(n: int = 12000) -> np.ndarray:
    wav, rate = sf.read(shipped_speech(), dtype="float32")
    assert rate == 24000
    return wav[:n]


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_mel_matches_upstream_golden_numbers(fixtures, version):
    # tests/fixtures/mel_upstream.json was written by tools/make_mel_golden.py from upstream's mel_spectrogram_torch
    golden = json.loads((fixtures / "mel_upstream.json").read_text())
    g = golden["versions"][version]
    mel = log_mel(first_samples(), spec_for(version).mel)[0].astype(np.float64)
    assert list(mel.shape) == g["shape"]
    for stat in ("mean", "std", "min", "max"):
        assert getattr(mel, stat)() == pytest.approx(g[stat], abs=1e-4)
    grid = mel[:: golden["band_step"], :: golden["frame_step"]]
    np.testing.assert_allclose(grid, np.array(g["grid"]), atol=2e-4)


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_mel_matches_upstream_function_directly(upstream, version):
    from gpt_sovits.mel_processing import mel_spectrogram_torch

    m = spec_for(version).mel
    wav = first_samples(20000)
    ref = mel_spectrogram_torch(torch.from_numpy(wav)[None], m.n_fft, m.num_mels, m.sampling_rate, m.hop_size,
                                m.win_size, m.fmin, m.fmax, center=False).numpy()
    np.testing.assert_allclose(log_mel(wav, m), ref, atol=1e-5)


def test_frames_are_samples_over_hop():
    m = spec_for("v4").mel
    assert log_mel(np.zeros(32000 + 100, np.float32), m).shape == (1, 100, (32000 + 100) // 320)


def test_bundled_clip_per_version_rate():
    v3, v4 = default_clips(spec_for("v3")), default_clips(spec_for("v4"))
    assert v3[0].attribution == BUNDLED_ATTRIBUTION
    # 5.87 s of speech: 24 kHz / hop 256 for v3, resampled to 32 kHz / hop 320 for v4
    assert v3[0].frames == 140800 // 256
    assert abs(v4[0].frames - 587) <= 1
    assert v3[0].mel.dtype == np.float32 and v3[0].mel.shape[:2] == (1, 100)


def test_user_file_any_rate_stereo_is_resampled(tmp_path):
    rate, f0 = 48000, 1000.0
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * f0 * t)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1), rate)  # stereo, 48 kHz
    spec = spec_for("v4")
    clip = load_clip(path, spec)
    assert clip.attribution == "user file" and clip.frames == 32000 // 320
    # the loudest mel band is the one whose centre is nearest 1 kHz at 32 kHz: nothing moved in resampling
    import librosa

    centres = librosa.mel_frequencies(n_mels=100, fmin=0, fmax=16000)
    assert abs(centres[clip.mel[0, :, 10:-10].mean(axis=1).argmax()] - f0) < 80


def test_crop_and_errors(tmp_path):
    spec = spec_for("v3")
    assert load_clip(shipped_speech(), spec, max_seconds=0.5).frames == 12000 // 256
    with pytest.raises(GsvTrtError, match="no such audio file"):
        load_clip(tmp_path / "missing.wav", spec)
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(GsvTrtError, match="junk.wav"):
        load_clip(tmp_path / "junk.wav", spec)
    with pytest.raises(GsvTrtError, match="too short"):
        log_mel(np.zeros(100, np.float32), spec.mel)


def test_output_mel_is_upstream_mel_for_v3_and_48k_analogue_for_v4():
    assert output_mel_settings(spec_for("v3")) == spec_for("v3").mel
    v4 = output_mel_settings(spec_for("v4"))
    assert (v4.sampling_rate, v4.hop_size, v4.n_fft) == (48000, 480, 1920)
