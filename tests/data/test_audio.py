"""``read_wav``: WAV files of every common sample format -> mono float32 in [-1, 1] at 16 kHz,
and a one-line error naming the file for anything else."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scipy.io import wavfile

from rnnkit.data.audio import SAMPLE_RATE, read_wav


def _write(path, samples: np.ndarray, rate: int = SAMPLE_RATE):
    wavfile.write(path, rate, samples)
    return path


@pytest.mark.parametrize(
    "dtype, values, expected",
    [
        # full scale is 2^(bits - 1): the most negative code is exactly -1
        (np.int16, [16384, -32768, 0, 32767, -16384], [0.5, -1.0, 0.0, 32767 / 32768, -0.5]),
        # unsigned 8-bit is offset binary: 128 is silence
        (np.uint8, [128, 0, 255, 192, 64], [0.0, -1.0, 127 / 128, 0.5, -0.5]),
        (np.int32, [2**30, -(2**31), 0, -(2**29), 2**31 - 1],
         [0.5, -1.0, 0.0, -0.25, (2**31 - 1) / 2**31]),  # fmt: skip
        (np.float32, [0.25, -1.0, 0.0, 1.0, -0.125], [0.25, -1.0, 0.0, 1.0, -0.125]),
    ],
)
def test_mono_sample_formats_are_scaled_into_unit_range(tmp_path, dtype, values, expected):
    path = _write(tmp_path / "a.wav", np.array(values, dtype=dtype))
    samples = read_wav(path)
    assert samples.dtype == np.float32 and samples.shape == (len(values),)
    np.testing.assert_allclose(samples, np.array(expected, np.float32), rtol=0, atol=1e-7)


@pytest.mark.parametrize("dtype, scale, offset", [
    (np.int16, 32768, 0), (np.uint8, 128, 128), (np.int32, 2**31, 0), (np.float32, 1, 0),
])  # fmt: skip
def test_stereo_channels_are_averaged(tmp_path, dtype, scale, offset):
    left = np.array([0.5, -0.5, 0.25, 0.0, -1.0])
    right = np.array([0.0, -0.5, -0.25, 0.5, 0.5])
    stereo = np.stack([left, right], axis=1) * scale + offset  # (N, 2)
    samples = read_wav(_write(tmp_path / "s.wav", stereo.astype(dtype)))
    assert samples.shape == (5,)
    np.testing.assert_allclose(samples, [0.25, -0.5, 0.0, 0.25, -0.25], rtol=0, atol=1e-7)


def test_resampling_keeps_the_frequency_and_the_duration(tmp_path):
    rate, n = 22_050, 22_050  # one second
    t = np.arange(n) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t) * 32767).astype(np.int16)
    samples = read_wav(_write(tmp_path / "tone.wav", tone, rate))
    assert abs(len(samples) - n * SAMPLE_RATE / rate) <= 2
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(samples)
    assert abs(peak_hz - 440.0) <= 2.0, peak_hz
    # the amplitude survives too (away from the filter's edge effects)
    assert abs(np.abs(samples[1000:-1000]).max() - 0.5) < 0.01


def test_not_a_wav_file_names_the_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are words, not audio\n")
    with pytest.raises(ValueError, match="notes.wav"):
        read_wav(path)


def test_a_cut_off_header_names_the_file(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes(b"RIFF\x10\x00")
    with pytest.raises(ValueError, match="cut.wav"):
        read_wav(path)


@pytest.mark.parametrize("shape", [(0,), (0, 2)])
def test_no_samples(tmp_path, shape):
    path = _write(tmp_path / "empty.wav", np.zeros(shape, np.int16))
    with pytest.raises(ValueError, match="holds no audio samples"):
        read_wav(path)


def _wav_with_format_tag(path, tag: int):
    """A WAV header written by hand: RIFF, a 16-byte fmt chunk with ``tag``, 100 data bytes."""
    data = bytes(100)
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000, 1, 8)  # mono, 8 kHz, 8 bits
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("tag", [6, 0x55])  # A-law, MP3
def test_unsupported_sample_format_names_the_file(tmp_path, tag):
    path = _wav_with_format_tag(tmp_path / f"format{tag}.wav", tag)
    with pytest.raises(ValueError, match=f"format{tag}.wav"):
        read_wav(path)


def test_the_hand_written_header_is_valid_when_pcm(tmp_path):
    # guards the test above: the same header with tag 1 (PCM) reads as 100 silent-ish samples
    samples = read_wav(_wav_with_format_tag(tmp_path / "pcm.wav", 1))
    assert len(samples) == 200  # 8 kHz -> 16 kHz
    np.testing.assert_allclose(samples[20:-20], -1.0, atol=0.05)  # uint8 code 0 is -1


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        read_wav(tmp_path / "gone.wav")
