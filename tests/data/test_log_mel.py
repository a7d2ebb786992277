"""Log-mel features against hand values of the HTK mel scale and an independent numpy STFT,
and the streaming path against the whole-signal one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.data.log_mel import LogMel, LogMelSettings, hz_to_mel, mel_filter_bank, mel_to_hz

RATE = 16_000


def _centres_hz(s: LogMelSettings) -> np.ndarray:
    """(n_mels,) the bands' centre frequencies, from the HTK formula written out here."""
    low, high = (2595.0 * math.log10(1.0 + f / 700.0) for f in (s.low_hz, s.high_hz))
    mels = np.linspace(low, high, s.n_mels + 2)[1:-1]
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def _reference(x: np.ndarray, s: LogMelSettings) -> np.ndarray:
    """(T, n_mels) in float64 numpy: each frame x[t*hop : t*hop+window], Hann-windowed, placed
    centred in n_fft zeros (as torch.stft places a shorter window), |rfft|^2, filters, log."""
    hann = np.hanning(s.window + 1)[:-1]  # periodic: the symmetric window one longer, cut
    filters = mel_filter_bank(s).numpy().astype(np.float64)  # (n_mels, F)
    left = (s.n_fft - s.window) // 2
    rows = []
    for start in range(0, len(x) - s.window + 1, s.hop):
        padded = np.zeros(s.n_fft)
        padded[left : left + s.window] = x[start : start + s.window] * hann
        power = np.abs(np.fft.rfft(padded)) ** 2  # (F,)
        rows.append(np.log(filters @ power + 1e-6))
    return np.array(rows).reshape(-1, s.n_mels)


def test_hz_to_mel_hand_values():
    assert hz_to_mel(0.0) == pytest.approx(0.0, abs=1e-12)
    assert hz_to_mel(6300.0) == pytest.approx(2595.0, rel=1e-12)  # log10(10) = 1
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * 0.30102999566398, rel=1e-12)  # log10(2)
    assert hz_to_mel(1000.0) == pytest.approx(999.985, abs=1e-3)  # 1 kHz is ~1000 mel
    np.testing.assert_allclose(hz_to_mel(np.array([700.0, 6300.0])), [781.17283875, 2595.0])


def test_mel_to_hz_hand_values_and_inverse():
    assert mel_to_hz(2595.0) == pytest.approx(6300.0, rel=1e-12)
    assert mel_to_hz(2595.0 * 2) == pytest.approx(69_300.0, rel=1e-12)  # 700 * (100 - 1)
    hz = np.array([0.0, 20.0, 440.0, 1000.0, 7600.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
    mel = np.linspace(0.0, 3000.0, 7)
    np.testing.assert_allclose(hz_to_mel(mel_to_hz(mel)), mel, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("settings", [LogMelSettings(), LogMelSettings(n_mels=20, n_fft=256,
                                                                     window=200, hop=80)])
def test_filter_bank_shape_and_triangles(settings):
    filters = mel_filter_bank(settings).numpy()
    bins = settings.n_fft // 2 + 1
    assert filters.shape == (settings.n_mels, bins)
    assert (filters >= 0).all() and (filters.max(axis=1) > 0.5).all()
    bin_hz = RATE / settings.n_fft
    centres = _centres_hz(settings)
    peaks = filters.argmax(axis=1) * bin_hz
    # a triangle peaks at one of the two bins around its centre
    assert (np.abs(peaks - centres) < bin_hz).all(), np.abs(peaks - centres).max()
    assert (np.diff(peaks) > 0).all()
    # nothing outside [low, high], and neighbouring triangles add up to 1 between the centres
    freqs = np.arange(bins) * bin_hz
    outside = (freqs <= settings.low_hz) | (freqs >= settings.high_hz)
    assert (filters[:, outside] == 0).all()
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
    np.testing.assert_allclose(filters[:, inside].sum(axis=0), 1.0, atol=1e-6)


@pytest.mark.parametrize("settings", [
    LogMelSettings(),
    LogMelSettings(n_mels=24, window=300, hop=100, n_fft=512),  # a different left offset
    LogMelSettings(n_mels=16, window=256, hop=128, n_fft=256),  # window fills the FFT
])  # fmt: skip
def test_log_mel_equals_a_numpy_stft(settings):
    x = np.random.default_rng(0).standard_normal(3000) * 0.1
    features = LogMel(settings)(x)
    expected = _reference(x, settings)
    assert features.dtype.is_floating_point and tuple(features.shape) == expected.shape
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n, frames", [
    (0, 0), (1, 0), (399, 0), (400, 1), (511, 1), (512, 1), (559, 1), (560, 2), (16_000, 98),
])  # fmt: skip
def test_frame_count(n, frames):
    x = np.random.default_rng(1).standard_normal(n)
    assert tuple(LogMel()(x).shape) == (frames, 40)


def test_a_1khz_tone_is_loudest_in_the_band_nearest_1khz():
    t = np.arange(RATE) / RATE
    features = LogMel()(0.5 * np.sin(2 * np.pi * 1000.0 * t)).numpy()  # (T, 40)
    expected = int(np.argmin(np.abs(_centres_hz(LogMelSettings()) - 1000.0)))
    assert (features.argmax(axis=1) == expected).all()


def test_stream_of_random_chunks_gives_the_frames_of_the_whole_signal():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(5000).astype(np.float32)
    sizes = [0, 1, 1, 0, 399, 1, 159, 161, 0, 7, 1]
    while sum(sizes) < len(x):
        sizes.append(int(rng.choice([0, 1, int(rng.integers(2, 700))])))
    log_mel = LogMel()
    stream = log_mel.stream()
    start, pieces = 0, []
    for size in sizes:
        frames = stream.push(x[start : start + size])
        assert frames.shape[1] == 40
        pieces.append(frames.numpy())
        start += size
    streamed = np.concatenate(pieces)
    assert len(streamed) == 1 + (5000 - 400) // 160
    np.testing.assert_allclose(streamed, log_mel(x).numpy(), rtol=1e-5, atol=1e-5)
