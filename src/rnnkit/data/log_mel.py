"""Log-mel features in plain torch (``torch.stft`` and a triangular mel filter bank), for
whole utterances and, chunk by chunk, for live audio.

Frame t covers samples [t * hop, t * hop + window) (no centre padding, so a stream of
chunks gives exactly the frames of the whole signal):

    X_t(f)   = STFT of the Hann-windowed frame, n_fft points
    m_t(k)   = sum_f  M(k, f) |X_t(f)|^2          (M: ``mel_filter_bank``)
    feature  = log(m_t(k) + 1e-6)                 (T, n_mels)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.audio import SAMPLE_RATE


@dataclass(frozen=True)
class LogMelSettings:
    """25 ms Hann windows every 10 ms, 40 mel bands from 20 Hz to 7.6 kHz."""

    n_mels: int = 40
    window: int = 400  # samples (25 ms at 16 kHz)
    hop: int = 160  # samples (10 ms)
    n_fft: int = 512
    low_hz: float = 20.0
    high_hz: float = 7600.0

    def to_dict(self) -> dict:
        return asdict(self)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filter_bank(settings: LogMelSettings) -> Tensor:
    """(n_mels, n_fft // 2 + 1): triangles equally spaced in mel, each rising from the
    centre of the band below to its own centre and falling to the centre of the next."""
    edges = mel_to_hz(np.linspace(hz_to_mel(settings.low_hz), hz_to_mel(settings.high_hz),
                                  settings.n_mels + 2))  # fmt: skip
    bins = np.linspace(0.0, SAMPLE_RATE / 2, settings.n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None)).float()


class LogMel:
    """Samples (N,) float at 16 kHz -> log-mel features (T, n_mels), T = 1 + (N - window)
    // hop (0 for fewer than ``window`` samples)."""

    def __init__(self, settings: LogMelSettings | None = None) -> None:
        self.settings = settings or LogMelSettings()
        self.filters = mel_filter_bank(self.settings)
        self.hann = torch.hann_window(self.settings.window, periodic=True)

    def __call__(self, samples: np.ndarray | Tensor) -> Tensor:
        x = torch.as_tensor(samples, dtype=torch.float32)
        s = self.settings
        if x.numel() < s.window:
            return torch.zeros(0, s.n_mels)
        # torch.stft centres a shorter window in each n_fft frame and needs n_fft samples:
        # padding by the difference makes frame t cover [t * hop, t * hop + window).
        left = (s.n_fft - s.window) // 2
        x = torch.cat((x.new_zeros(left), x, x.new_zeros(s.n_fft - s.window - left)))
        spectrum = torch.stft(
            x, s.n_fft, hop_length=s.hop, win_length=s.window, window=self.hann,
            center=False, return_complex=True,
        )  # (F, T)  # fmt: skip
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.log(self.filters @ power + 1e-6).T.contiguous()  # (T, n_mels)

    def stream(self) -> LogMelStream:
        return LogMelStream(self)


class LogMelStream:
    """The frames of live audio as it arrives: ``push(chunk)`` returns the frames that
    the samples so far complete, the same as ``LogMel`` gives for the whole signal."""

    def __init__(self, log_mel: LogMel) -> None:
        self.log_mel = log_mel
        self.pending = np.zeros(0, np.float32)  # samples not yet past by the hop

    def push(self, chunk: np.ndarray) -> Tensor:
        s = self.log_mel.settings
        self.pending = np.concatenate((self.pending, np.asarray(chunk, np.float32)))
        frames = self.log_mel(self.pending)  # (T, n_mels)
        self.pending = self.pending[len(frames) * s.hop :]
        return frames
