"""Many-to-many: a language model over tokens (characters or words), trained with
truncated BPTT, and generation from it."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from rnnkit.models.stack import recurrent_stack


class LanguageModel(nn.Module):
    """tokens (B, T) -> logits of the next token (B, T, V)::

        embedding -> recurrent stack -> (projection to the embedding size) -> tied decoder

    With ``tie_weights`` the decoder is the embedding matrix itself (Press & Wolf 2017;
    Inan et al. 2017): fewer parameters and, in their measurements, lower perplexity.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 256,
        cell: str = "lstm",
        hidden: int = 512,
        layers: int = 2,
        dropout: float = 0.2,
        tie_weights: bool = True,
        cell_options: dict | None = None,
        regularisers: dict | None = None,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.stack = recurrent_stack(
            embedding_dim, cell, hidden, layers, False, dropout, cell_options, regularisers
        )
        self.dropout = nn.Dropout(dropout)
        out = embedding_dim if tie_weights else hidden
        self.projection = (
            nn.Linear(hidden, embedding_dim) if tie_weights and hidden != embedding_dim else None
        )
        self.decoder = nn.Linear(out, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, tokens: Tensor, state=None, offset: Tensor | None = None):
        """tokens (B, T), ``state`` (default zeros), ``offset`` (B, E): a vector added to
        every step's input embedding (a condition; default none) -> (logits, state)."""
        x = self.embedding(tokens)  # (B, T, E)
        if offset is not None:
            x = x + offset.unsqueeze(1)
        y, state = self.stack(self.dropout(x), state)
        return self._logits(self.dropout(y)), state

    def _logits(self, y: Tensor) -> Tensor:
        return self.decoder(self.projection(y) if self.projection is not None else y)

    def generate(self, prime: list[int], length: int, **sampling) -> list[int]:
        """``length`` tokens after ``prime`` (at least one): ``iter_generate``'s, as a list."""
        return list(self.iter_generate(prime, length, **sampling))

    def iter_generate(
        self,
        prime: list[int],
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        exclude: tuple[int, ...] = (),
        state: list | None = None,
        stop: int | None = None,
        offset: Tensor | None = None,
    ) -> Iterator[int]:
        """Yield ``length`` tokens after ``prime`` (at least one), each as soon as it is
        drawn, one streamed step each (``rnnkit.layers.stream``): the prime is read, then
        each sampled token is fed back. The distribution is softmax(logits / temperature),
        cut to the ``top_k`` most likely tokens and/or the smallest set whose probability
        reaches ``top_p``; the tokens in ``exclude`` (padding, unknown) are never drawn.
        ``state``: the stack's initial state (default zeros); ``stop``: a token that ends
        the output early (not included); ``offset`` (E,): added to every input embedding,
        as ``forward`` takes it. Runs in eval mode; the mode is restored at the end."""
        if not prime:
            raise ValueError("prime must hold at least one token")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        was_training = self.training
        self.eval()
        try:
            step = self.stepper(state, offset)
            for token in prime[:-1]:
                step(token)
            token = prime[-1]
            for _ in range(length):
                with torch.no_grad():
                    logits = step(token)
                    logits[list(exclude)] = float("-inf")
                    token = sample(logits / temperature, top_k, top_p, generator)
                if token == stop:
                    break
                yield token
        finally:
            self.train(was_training)

    def stepper(self, state: list | None = None, offset: Tensor | None = None):
        """``step(token) -> logits (V,)`` of the next token, one streamed step per call
        (``rnnkit.layers.stream``), from ``state`` (default: a fresh one), with ``offset``
        (E,) added to every input embedding. Inference: call in eval mode."""
        stream = self.stack.stream(batch_size=1, state=state)
        shift = 0.0 if offset is None else offset

        def step(token: int) -> Tensor:
            with torch.no_grad():
                x = (self.embedding.weight[token] + shift).unsqueeze(0)  # (1, E)
                return self._logits(stream.step(x))[0]

        return step


def sample(
    logits: Tensor, top_k: int | None, top_p: float | None, generator: torch.Generator | None
) -> int:
    """One index drawn from softmax(logits) (V,), restricted as ``generate`` says."""
    if top_k is not None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        cut = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < cut, float("-inf"))
    probs = logits.softmax(-1)
    if top_p is not None:
        ordered, order = probs.sort(descending=True)
        before = ordered.cumsum(0) - ordered  # probability of the tokens ranked above each
        probs = torch.zeros_like(probs).scatter(0, order, ordered.masked_fill(before >= top_p, 0))
    return int(torch.multinomial(probs, 1, generator=generator))
