"""Attention over an encoder's outputs: a query (the decoder's state) scores every source
position, and the softmax of the scores weighs the outputs into one context vector.

    scores a_s = score(q, m_s)      weights w = softmax(a) over the real positions
    context c  = sum_s w_s m_s

Shapes: query q (B, Q), memory m (B, S, M), mask (B, S) True at real positions.
The part of the score that depends on the memory alone is computed once per sequence
(``keys``), not once per decoder step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): a_s = v . tanh(W_q q + W_m m_s), a one-layer MLP scorer."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int | None = None):
        super().__init__()
        size = attention_size or query_size
        self.query = nn.Linear(query_size, size, bias=False)
        self.memory = nn.Linear(memory_size, size)
        self.v = nn.Linear(size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """W_m m_s, (B, S, A)."""
        return self.memory(memory)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return self.v(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(2)

    def forward(self, query, keys, memory, mask) -> tuple[Tensor, Tensor]:
        return attend(self.scores(query, keys), memory, mask)


class MultiplicativeAttention(nn.Module):
    """Luong et al. (2015), the "general" score: a_s = q . (W m_s)."""

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.memory = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """W m_s, (B, S, Q)."""
        return self.memory(memory)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)

    def forward(self, query, keys, memory, mask) -> tuple[Tensor, Tensor]:
        return attend(self.scores(query, keys), memory, mask)


def attend(scores: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """scores (B, S) -> (context (B, M), weights (B, S)); padding gets weight 0."""
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


ATTENTIONS = {"additive": AdditiveAttention, "multiplicative": MultiplicativeAttention}
