"""Audio in: a WAV file -> mono float32 samples at 16 kHz, with a one-line error for
anything else (not a WAV file, no samples, a sample format WAV readers disagree on)."""

from __future__ import annotations

import struct
import warnings
from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # Hz: what every speech model of rnnkit reads


def read_wav(path: str | Path) -> np.ndarray:
    """The samples of a WAV file, mono (channels averaged), resampled to ``SAMPLE_RATE``,
    as float32 in [-1, 1]. Integer PCM (8, 16, 24, 32 bit) and float WAV files are read."""
    from scipy.io import wavfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # e.g. unknown chunks
            rate, samples = wavfile.read(path)
    except (ValueError, EOFError, struct.error) as error:  # the last two: a cut-off header
        raise ValueError(f"{path} is not a WAV file rnnkit can read: {error}") from None
    return to_model_rate(samples, rate, str(path))


def to_model_rate(samples: np.ndarray, rate: int, name: str = "audio") -> np.ndarray:
    """Integer or float samples (N,) or (N, channels) at ``rate`` Hz -> mono float32 at
    ``SAMPLE_RATE``."""
    samples = np.asarray(samples)
    if samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        middle = (int(info.max) + int(info.min) + 1) / 2  # 128 for unsigned 8-bit, else 0
        samples = (samples.astype(np.float64) - middle) / (info.max - middle + 1)
    elif samples.dtype.kind != "f":
        raise ValueError(f"{name}: unsupported sample format {samples.dtype}")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"{name} holds no audio samples")
    if not np.isfinite(samples).all():
        raise ValueError(f"{name} holds samples that are not finite numbers")
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        common = gcd(int(rate), SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // common, int(rate) // common)
    return samples.astype(np.float32)
