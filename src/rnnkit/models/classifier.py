"""Many-to-one: a sequence in, one class out (sentiment analysis, sequence classification)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.stack import recurrent_stack

POOLINGS = ("last", "mean", "max", "attention")


class SequenceClassifier(nn.Module):
    """tokens (B, T) or features (B, T, C) -> class logits (B, K)::

        embedding (tokens) or linear (features)  ->  recurrent stack  ->  pooling  ->  head

    Pooling over the steps of each sequence (padding excluded): ``last`` (the state at its
    own last step; bidirectional: the forward one there, the backward one at step 0),
    ``mean``, ``max``, or ``attention`` (softmax(v . tanh(W y_t)) weights, Bahdanau-style).
    ``dropout`` acts on the word embeddings, between layers and before the head.
    """

    def __init__(
        self,
        classes: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
        embedding_dim: int = 128,
        cell: str = "lstm",
        hidden: int = 128,
        layers: int = 1,
        bidirectional: bool = False,
        pooling: str = "last",
        dropout: float = 0.0,
        cell_options: dict | None = None,
        regularisers: dict | None = None,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (tokens) and input_size (features)")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if not isinstance(classes, int) or classes < 2:
            raise ValueError(f"classes must be an int >= 2, got {classes!r}")
        self.pooling, self.bidirectional, self.hidden = pooling, bidirectional, hidden
        if vocab_size is not None:
            self.inputs: nn.Module = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        else:
            self.inputs = nn.Linear(input_size, embedding_dim)
        self.stack = recurrent_stack(
            embedding_dim, cell, hidden, layers, bidirectional, dropout, cell_options, regularisers
        )
        width = self.stack.output_size
        if pooling == "attention":
            self.attention = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``lengths`` None: every sequence is T long (and the model then has no
        data-dependent branch, so it compiles and exports with dynamic B and T)."""
        y, _ = self.stack(self.embed(x), lengths=lengths)  # (B, T, D), 0 past each end
        return self.head(self.dropout(self.pool(y, lengths)))

    def embed(self, x: Tensor) -> Tensor:
        """Tokens are embedded, then dropped out (a word's vector is all a small data set
        has to learn its meaning from, so that is where it overfits first)."""
        if isinstance(self.inputs, nn.Embedding):
            return self.dropout(self.inputs(x))
        return self.inputs(x)

    def pool(self, y: Tensor, lengths: Tensor | None) -> Tensor:
        """y (B, T, D) -> (B, D) over each sequence's own steps (all T without lengths)."""
        if lengths is None:
            valid = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device)
            lengths = torch.full(y.shape[:1], y.shape[1], device=y.device)
        else:
            lengths = lengths.to(y.device)
            valid = torch.arange(y.shape[1], device=y.device) < lengths.unsqueeze(1)  # (B, T)
        if self.pooling == "mean":
            return y.sum(1) / lengths.unsqueeze(1).to(y.dtype)
        if self.pooling == "max":
            return y.masked_fill(~valid.unsqueeze(2), float("-inf")).amax(1)
        if self.pooling == "attention":
            scores = self.attention(y).squeeze(2).masked_fill(~valid, float("-inf"))
            return (scores.softmax(1).unsqueeze(2) * y).sum(1)
        last = y[torch.arange(y.shape[0], device=y.device), lengths - 1]  # (B, D)
        if not self.bidirectional:
            return last
        return torch.cat((last[:, : self.hidden], y[:, 0, self.hidden :]), dim=1)

    @torch.no_grad()
    def trace(self, x: Tensor) -> Tensor:
        """One sequence x (T,) or (T, C) -> class probabilities after each step (T, K): the
        prediction from its first t steps alone, as if it ended there."""
        steps = x.shape[0]
        prefixes = x.unsqueeze(0).expand(steps, *x.shape)  # (T, T, ...): row t = x, cut at t+1
        lengths = torch.arange(1, steps + 1)
        return self(prefixes, lengths).softmax(-1)
