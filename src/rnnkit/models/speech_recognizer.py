"""A CTC speech recogniser (Graves et al. 2006): acoustic frames in, one distribution over
the characters and the blank per (subsampled) frame out.

    features (B, T, C)  raw log-mel (or any frame features)
      -> normalise          per utterance, or causally for streaming (below)
      -> SpecAugment        training only: random time and frequency bands set to 0
      -> subsample          Conv1d(C, H, kernel 3, stride S) + ReLU: T' = (T - 3) // S + 1
      -> recurrent stack    LSTM/GRU/..., bidirectional or not (streaming)      (B, T', D)
      -> linear             D -> K + 1 (label 0 is the blank)
      -> log_softmax                                                            (B, T', K+1)

Normalisation "utterance" uses the whole utterance's mean and deviation per channel, so
it needs the end of the audio; "running" subtracts the mean of the frames so far,
started from the training mean as if ``PRIOR_FRAMES`` of it had been seen,

    m_t = (n0 mu + sum_{s<=t} x_s) / (n0 + t + 1),   x'_t = (x_t - m_t) / sigma,

which a stream computes exactly as the whole utterance does.

A unidirectional model starts warm: its input is the utterance after ``warmup`` copies of
its first frame (the outputs over those are dropped). Started cold, on a zero state, it
can tell the first steps apart and learns to guess the first letters there, before the
first word is heard (CTC lets labels come any time before their sound), and then never
learns to recognise the first word; started warm, it cannot tell where the utterance
begins, and guessing there costs more than it gains. In training the warm-up's length
varies (half to one and a half ``warmup``, per batch) for the same reason.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.stack import recurrent_stack

NORMALISATIONS = ("utterance", "running")
KERNEL = 3  # frames each subsampled step sees
PRIOR_FRAMES = 100  # 1 s of the training mean in "running" normalisation


class SpecAugment(nn.Module):
    """Park et al. 2019, without time warping: in training, ``freq_masks`` bands of up to
    ``freq_width`` channels and ``time_masks`` spans of up to ``time_fraction`` of each
    utterance's frames are set to 0 (the mean of normalised features)."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2,
                 time_fraction: float = 0.08) -> None:  # fmt: skip
        super().__init__()
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_fraction = time_masks, time_fraction

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if not self.training:
            return x
        B, T, C = x.shape
        keep = torch.ones(B, T, C, dtype=torch.bool, device=x.device)
        channels = torch.arange(C, device=x.device)
        steps = torch.arange(T, device=x.device)
        for _ in range(self.freq_masks):
            width = torch.randint(0, self.freq_width + 1, (B, 1), device=x.device)
            start = (torch.rand(B, 1, device=x.device) * (C - width + 1)).long()
            keep &= ~((channels >= start) & (channels < start + width)).unsqueeze(1)
        longest = (lengths.to(x.device).unsqueeze(1) * self.time_fraction).long()  # (B, 1)
        for _ in range(self.time_masks):
            width = (torch.rand(B, 1, device=x.device) * (longest + 1)).long()
            start = (torch.rand(B, 1, device=x.device) * (lengths.to(x.device).unsqueeze(1)
                                                          - width + 1)).long()  # fmt: skip
            keep &= ~((steps >= start) & (steps < start + width)).unsqueeze(2)
        return x * keep


class SpeechRecognizer(nn.Module):
    """(features (B, T, C), lengths (B,)) -> (log-probabilities (B, T', K + 1), T' (B,)).

    ``mean`` and ``std`` (C,) are the training features' per-channel statistics ("running"
    normalisation uses them; they are buffers, saved with the weights).
    """

    def __init__(
        self,
        n_features: int,
        alphabet_size: int,
        cell: str = "lstm",
        hidden: int = 192,
        layers: int = 3,
        bidirectional: bool = True,
        subsample: int = 2,
        dropout: float = 0.2,
        normalisation: str = "utterance",
        spec_augment: SpecAugment | None = None,
        warmup: int = 0,
    ) -> None:
        super().__init__()
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got "
                             f"{normalisation!r}")  # fmt: skip
        if bidirectional and normalisation == "running":
            raise ValueError("a bidirectional model reads whole utterances: use 'utterance' "
                             "normalisation")  # fmt: skip
        self.normalisation, self.subsample_stride = normalisation, subsample
        self.bidirectional = bidirectional
        if warmup % subsample or warmup < 0 or (warmup and bidirectional):
            raise ValueError(f"warmup must be a multiple of subsample={subsample} (frames) and "
                             f"0 for a bidirectional model, got {warmup}")  # fmt: skip
        self.warmup = warmup
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.spec_augment = spec_augment or SpecAugment()
        self.subsample = nn.Conv1d(n_features, hidden, KERNEL, stride=subsample)
        self.rnn = recurrent_stack(hidden, cell, hidden, layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), alphabet_size + 1)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Frames -> subsampled steps: (T - 3) // S + 1, and 0 for T < 3."""
        return torch.clamp((lengths - KERNEL) // self.subsample_stride + 1, min=0)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        steps = self.output_lengths(lengths)
        warmup = self.warmup_frames()
        x = torch.cat((x[:, :1].expand(-1, warmup, -1), x), 1)  # (B, W + T, C)
        lengths = lengths + warmup
        x = self.spec_augment(self.normalise(x, lengths), lengths)
        if x.shape[1] < KERNEL:  # every utterance too short (T' = 0): Conv1d needs 3 frames
            x = nn.functional.pad(x, (0, 0, 0, KERNEL - x.shape[1]))
        h = torch.relu(self.subsample(x.transpose(1, 2))).transpose(1, 2)  # (B, T', H)
        skip = warmup // self.subsample_stride  # the warm-up's steps
        y, _ = self.rnn(h, lengths=(steps + skip).clamp(min=1).cpu())  # (B, skip + T', D)
        y = y[:, skip:]  # the steps of the utterance itself
        return self.head(self.dropout(y)).log_softmax(-1), steps

    def warmup_frames(self) -> int:
        """``warmup``; in training a multiple of the stride between half and 1.5 times it."""
        if not self.training or not self.warmup:
            return self.warmup
        unit = self.subsample_stride
        low, high = self.warmup // (2 * unit), 3 * self.warmup // (2 * unit)
        return unit * int(torch.randint(low, high + 1, ()))

    def normalise(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x (B, T, C) raw -> normalised, 0 past each utterance's end."""
        valid = (torch.arange(x.shape[1], device=x.device) < lengths.to(x.device)[:, None])
        valid = valid.unsqueeze(2).to(x.dtype)  # (B, T, 1)
        if self.normalisation == "running":
            seen = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)[:, None]
            mean = (PRIOR_FRAMES * self.mean + x.cumsum(1)) / (PRIOR_FRAMES + seen)
            return (x - mean) / self.std * valid
        count = lengths.to(x.device, x.dtype).clamp(min=1)[:, None, None]
        mean = (x * valid).sum(1, keepdim=True) / count
        var = ((x - mean).square() * valid).sum(1, keepdim=True) / count
        return (x - mean) / (var.sqrt() + 1e-5) * valid

    def stream(self) -> RecognizerStream:
        """Frames in as they arrive, log-probabilities out (unidirectional models)."""
        if self.bidirectional or self.normalisation != "running":
            raise ValueError("stream() needs a unidirectional model with 'running' "
                             "normalisation")  # fmt: skip
        return RecognizerStream(self)


class RecognizerStream:
    """``push(frames (t, C))`` -> the log-probabilities (t', K+1) of the steps those frames
    complete: the same rows as ``model(whole utterance)``, computed step by step. A step
    needs ``KERNEL`` frames, so up to ``KERNEL - 1`` frames wait for the next push."""

    def __init__(self, model: SpeechRecognizer) -> None:
        self.model = model.eval()
        like = model.mean
        self.total = PRIOR_FRAMES * model.mean.clone()  # n0 mu + sum of the frames so far
        self.seen = 0
        self.pending = like.new_zeros(0, like.shape[0])  # normalised frames not yet used
        self.rnn = model.rnn.stream(batch_size=1)
        self.skip = model.warmup // model.subsample_stride  # the warm-up's steps, dropped

    def push(self, frames: Tensor) -> Tensor:
        model = self.model
        with torch.no_grad():
            frames = torch.as_tensor(frames, dtype=model.mean.dtype)
            if self.seen == 0 and len(frames):
                frames = torch.cat((frames[:1].expand(model.warmup, -1), frames))
            seen = self.seen + torch.arange(1, len(frames) + 1, dtype=frames.dtype)[:, None]
            mean = (self.total + frames.cumsum(0)) / (PRIOR_FRAMES + seen)
            self.total = self.total + frames.sum(0)
            self.seen += len(frames)
            self.pending = torch.cat((self.pending, (frames - mean) / model.std))
            if len(self.pending) < KERNEL:
                return model.mean.new_zeros(0, model.head.out_features)
            h = torch.relu(model.subsample(self.pending.T.unsqueeze(0)))[0].T  # (t', H)
            self.pending = self.pending[len(h) * model.subsample_stride :]
            rows = [self.rnn.step(h_t.unsqueeze(0)) for h_t in h]  # (1, D) each
            dropped = min(self.skip, len(rows))
            self.skip -= dropped
            if dropped == len(rows):
                return model.mean.new_zeros(0, model.head.out_features)
            return model.head(torch.cat(rows[dropped:])).log_softmax(-1)
