"""One-to-many: a language model whose initial state comes from a vector, so that one
input (an image's features in captioning, here a class label) unrolls into a sequence.

    s_0 = tanh(W_b c + b_b)                      c (B, C): the condition
    p(w_t | w_<t, c) = LanguageModel(w_<t) from s_0

Every state entry of every layer (h, and c for an LSTM) gets its own slice of W_b c. With
a one-hot c, W_b c is a learned initial state per class.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.language_model import LanguageModel


class ConditionalGenerator(LanguageModel):
    def __init__(self, vocab_size: int, condition_size: int, **options) -> None:
        """``options``: those of ``LanguageModel`` (embedding_dim, cell, hidden, ...)."""
        super().__init__(vocab_size, **options)
        self.cells = [layer.cell for layer in self.stack.layers]
        self.sizes = [size for cell in self.cells for size in cell.state_sizes()]
        self.bridge = nn.Linear(condition_size, sum(self.sizes))

    def initial_state(self, condition: Tensor) -> list:
        """condition (B, C) -> the stack's state: one ``State`` per layer, entries (B, n)."""
        parts = iter(torch.tanh(self.bridge(condition)).split(self.sizes, dim=1))
        return [cell.State(*(next(parts) for _ in cell.state_sizes())) for cell in self.cells]

    def forward(self, tokens: Tensor, condition: Tensor) -> Tensor:
        """tokens (B, T) (BOS first), condition (B, C) -> next-token logits (B, T, V)."""
        logits, _ = super().forward(tokens, self.initial_state(condition))
        return logits

    def sample_sequence(self, condition: Tensor, start: list[int], length: int, stop: int,
                        **sampling) -> list[int]:  # fmt: skip
        """Up to ``length`` tokens after ``start`` (BOS and any prime), drawn from the
        condition's initial state (C,) until ``stop``; ``sampling``: temperature, top_k,
        top_p, generator, exclude, as ``LanguageModel.generate`` takes them."""
        with torch.no_grad():
            state = self.initial_state(condition.unsqueeze(0))
        return self.generate(start, length, state=state, stop=stop, **sampling)
