"""Transcribing live audio: samples in chunk by chunk, a partial transcript out after each,
and what each chunk cost to compute."""

from __future__ import annotations

import time

import numpy as np
import torch

from rnnkit.data.log_mel import LogMel
from rnnkit.models.ctc_decoding import decode, greedy_decode
from rnnkit.models.speech_recognizer import SpeechRecognizer


class TranscriptStream:
    """``push(samples)`` (16 kHz) -> the greedy transcript of everything heard so far;
    ``finish()`` -> the final transcript, decoded as the run decodes (beam, language
    model). ``seconds`` holds each push's compute time."""

    def __init__(self, model: SpeechRecognizer, log_mel: LogMel, alphabet: str,
                 decoding: dict) -> None:  # fmt: skip
        self.features = log_mel.stream()
        self.recognizer = model.stream()
        self.alphabet, self.decoding = alphabet, decoding
        self.log_probs: list[torch.Tensor] = []
        self.seconds: list[float] = []

    def push(self, samples: np.ndarray) -> str:
        started = time.perf_counter()
        self.log_probs.append(self.recognizer.push(self.features.push(samples)))
        text = greedy_decode(torch.cat(self.log_probs), self.alphabet)
        self.seconds.append(time.perf_counter() - started)
        return text

    def finish(self) -> str:
        return decode(torch.cat(self.log_probs), self.alphabet, **self.decoding)
