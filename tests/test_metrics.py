"""The metrics behave: identical audio is perfect, noise and shifts cost what arithmetic says they should."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.vocoder import spec_for
from gsv_trt.models.mel import shipped_speech
from gsv_trt.quality.mel import output_mel_settings
from gsv_trt.quality.metrics import compare

MEL = output_mel_settings(spec_for("v3"))  # 24 kHz, the bundled clip's own rate


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wav, _ = sf.read(shipped_speech(), dtype="float32")
    return wav[None, None, 24000:72000]  # 2 s of speech as a vocoder output [1, 1, N]


def with_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    noise *= math.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def test_identical_audio_scores_perfect(speech):
    m = compare(speech, speech.copy(), MEL)
    assert m.finite and m.snr_db == math.inf
    assert m.cosine == pytest.approx(1.0, abs=1e-12)
    assert m.mse == 0.0 and m.max_abs == 0.0 and m.log_mel_l1 == 0.0
    assert m.mr_stft == pytest.approx(0.0, abs=1e-6)
    assert json.loads(json.dumps(m.to_dict()))["snr_db"] == "inf"


@pytest.mark.parametrize("snr", [20.0, 40.0])
def test_added_noise_scores_its_snr(speech, snr):
    noisy = with_noise(speech, snr)
    m = compare(speech, noisy, MEL)
    assert m.snr_db == pytest.approx(snr, abs=0.1)
    # independent noise of relative power p: cosine = 1 / sqrt(1 + p)
    assert m.cosine == pytest.approx(1 / math.sqrt(1 + 10 ** (-snr / 10)), abs=2e-4)
    assert m.mse == pytest.approx(np.mean(speech.astype(np.float64) ** 2) * 10 ** (-snr / 10), rel=0.03)


def test_more_noise_is_worse_on_every_metric(speech):
    a, b = compare(speech, with_noise(speech, 40.0), MEL), compare(speech, with_noise(speech, 20.0), MEL)
    assert b.snr_db < a.snr_db and b.cosine < a.cosine and b.mse > a.mse
    assert b.log_mel_l1 > a.log_mel_l1 and b.mr_stft > a.mr_stft


@pytest.mark.parametrize("shift", [1, 12])
def test_shifted_signal_costs_its_autocorrelation(speech, shift):
    x = speech.astype(np.float64).ravel()
    shifted = np.roll(speech, shift, axis=-1)
    m = compare(speech, shifted, MEL)
    rho = np.dot(x, np.roll(x, shift)) / np.dot(x, x)  # normalised autocorrelation at the lag
    assert m.cosine == pytest.approx(rho, abs=1e-9)
    # equal energies: |x - y|^2 = 2|x|^2 (1 - rho)
    assert m.snr_db == pytest.approx(-10 * math.log10(2 * (1 - rho)), abs=1e-6)
    # a shift of a few samples barely moves the spectrum: waveform metrics punish it, spectral ones hardly
    assert m.log_mel_l1 < compare(speech, with_noise(speech, 20.0), MEL).log_mel_l1


def test_non_finite_candidate_and_shape_mismatch(speech):
    broken = speech.copy()
    broken[..., 100] = np.nan
    m = compare(speech, broken, MEL)
    assert not m.finite and math.isnan(m.snr_db)
    with pytest.raises(GsvTrtError, match="shape"):
        compare(speech, speech[..., :-1], MEL)
