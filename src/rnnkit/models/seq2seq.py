"""Encoder-decoder with attention (sequence to sequence).

    encoder:  m = stack(embed(x))                         (B, S, M), any rnnkit stack
    bridge:   s_0 = tanh(W_b mean_s m_s)                  the decoder's initial state
    decoder, at each step t (Luong et al. 2015's input feeding):
        s_t  = cell([embed(y_{t-1}); h~_{t-1}], s_{t-1})
        c_t, w_t = attention(s_t, m)                      additive or multiplicative score
        h~_t = tanh(W_c [s_t; c_t])                       the attentional state
        p(y_t | y_<t, x) = softmax(W_o h~_t)

The score is Bahdanau et al. (2015)'s additive one or Luong et al.'s multiplicative one
(``rnnkit.models.attention``). Feeding h~_{t-1} back in tells the decoder what it attended
to last. Target sequences start with BOS and end with EOS; token 0 is padding.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.cells import make_cell
from rnnkit.models.attention import ATTENTIONS
from rnnkit.models.stack import recurrent_stack

PAD, UNK, BOS, EOS = 0, 1, 2, 3  # PAD and UNK as in rnnkit.data.Tokenizer


class Memory(NamedTuple):
    """What the decoder attends to: the encoder outputs, their keys and the real positions."""

    values: Tensor  # (B, S, M)
    keys: Tensor  # (B, S, A)
    mask: Tensor  # (B, S) bool

    def repeat(self, times: int) -> Memory:
        """Each row ``times`` times in a row (for beam search)."""
        return Memory(*(t.repeat_interleave(times, dim=0) for t in self))


class DecoderState(NamedTuple):
    cell: tuple[Tensor, ...]  # the decoder cell's state, each (B, H)
    feed: Tensor  # h~_{t-1} (B, H)

    def select(self, rows: Tensor) -> DecoderState:
        cell = type(self.cell)(*(s.index_select(0, rows) for s in self.cell))
        return DecoderState(cell, self.feed.index_select(0, rows))


class Decoded(NamedTuple):
    """Output sequences without BOS and EOS, padded with 0."""

    tokens: Tensor  # (B, L) int64
    lengths: Tensor  # (B,)
    attention: Tensor  # (B, L, S): the weights each output token was produced with
    scores: Tensor  # (B,) log-probability of each output (EOS included)


def inference(method):
    """Run ``method`` in eval mode without gradients, then restore the training mode."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return run


class Seq2Seq(nn.Module):
    """An encoder-decoder with attention over the encoder's outputs (see the module)."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embedding_dim: int = 128,
        cell: str = "lstm",
        hidden: int = 256,
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.2,
        attention: str = "additive",
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {attention!r}")
        self.source_embedding = nn.Embedding(source_vocab, embedding_dim, padding_idx=PAD)
        self.encoder = recurrent_stack(embedding_dim, cell, hidden, layers, bidirectional, dropout)
        width = self.encoder.output_size
        self.target_embedding = nn.Embedding(target_vocab, embedding_dim, padding_idx=PAD)
        self.decoder = make_cell(cell, embedding_dim + hidden, hidden)
        self.bridge = nn.Linear(width, sum(self.decoder.state_sizes()))
        self.attention = ATTENTIONS[attention](hidden, width)
        self.combine = nn.Linear(hidden + width, hidden)
        self.output = nn.Linear(hidden, target_vocab)
        self.dropout = nn.Dropout(dropout)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Memory, DecoderState]:
        """source (B, S) token ids, lengths (B,) -> the memory and the decoder's first state."""
        steps = source.shape[1]
        values, _ = self.encoder(self.dropout(self.source_embedding(source)), lengths=lengths)
        mask = torch.arange(steps, device=source.device) < lengths.to(source.device)[:, None]
        mean = values.sum(1) / lengths.to(values)[:, None]  # padding outputs are zero
        initial = torch.tanh(self.bridge(mean)).split(self.decoder.state_sizes(), dim=1)
        feed = values.new_zeros(source.shape[0], self.decoder.hidden_size)  # not len(): a SymInt
        state = DecoderState(self.decoder.State(*initial), feed)
        return Memory(values, self.attention.keys(values), mask), state

    def step(
        self, token: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """token (B,) -> (logits (B, V), next state, attention weights (B, S))."""
        x = torch.cat((self.target_embedding(token), state.feed), dim=1)
        y, cell = self.decoder(self.dropout(x), state.cell)
        context, weights = self.attention(y, memory.keys, memory.values, memory.mask)
        attentional = torch.tanh(self.combine(torch.cat((y, context), dim=1)))
        return self.output(self.dropout(attentional)), DecoderState(cell, attentional), weights

    def forward(
        self,
        source: Tensor,
        lengths: Tensor,
        target_in: Tensor,
        sampling: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing: target_in (B, T) is BOS followed by the target; step t reads
        target_in[:, t]. -> (logits (B, T, V), attention weights (B, T, S)).

        Scheduled sampling (Bengio et al. 2015): with probability ``sampling``, each step
        after the first reads the model's own most likely previous token instead."""
        if not 0 <= sampling <= 1:
            raise ValueError(f"sampling must be a probability in [0, 1], got {sampling}")
        memory, state = self.encode(source, lengths)
        token, all_logits, all_weights = target_in[:, 0], [], []
        for t in range(target_in.shape[1]):
            if t > 0:
                token = target_in[:, t]
                if sampling > 0:
                    own = output_log_probs(all_logits[-1].detach()).argmax(1)
                    draw = torch.rand(token.shape, generator=generator).to(token.device)
                    token = torch.where(draw < sampling, own, token)
            logits, state, weights = self.step(token, state, memory)
            all_logits.append(logits)
            all_weights.append(weights)
        return torch.stack(all_logits, 1), torch.stack(all_weights, 1)

    @inference
    def greedy(self, source: Tensor, lengths: Tensor, max_length: int | None = None) -> Decoded:
        """The most likely token at every step, for the whole batch at once, until every
        row has produced EOS or ``max_length`` tokens (default 2 S + 10)."""
        memory, state = self.encode(source, lengths)
        batch = len(source)
        token = torch.full((batch,), BOS, dtype=torch.int64, device=source.device)
        done = torch.zeros(batch, dtype=torch.bool, device=source.device)
        tokens, weights, scores = [], [], torch.zeros(batch, device=source.device)
        for _ in range(max_length or 2 * source.shape[1] + 10):
            logits, state, step_weights = self.step(token, state, memory)
            log_probs = output_log_probs(logits)
            token = log_probs.argmax(1)
            scores += torch.where(done, 0.0, log_probs.gather(1, token[:, None]).squeeze(1))
            tokens.append(token.masked_fill(done, PAD))
            weights.append(step_weights)
            done = done | (token == EOS)
            if bool(done.all()):
                break
        return finish(torch.stack(tokens, 1), torch.stack(weights, 1), scores)

    @inference
    def beam_search(
        self,
        source: Tensor,
        lengths: Tensor,
        beam: int = 5,
        length_penalty: float = 0.6,
        max_length: int | None = None,
    ) -> Decoded:
        """The best of ``beam`` hypotheses per row (``rnnkit.models.beam_search``)."""
        from rnnkit.models.beam_search import beam_search

        return beam_search(self, source, lengths, beam, length_penalty, max_length)


def output_log_probs(logits: Tensor) -> Tensor:
    """log p(next token) (B, V) over the tokens an output may hold: never padding, BOS or
    <unk> (which no training target holds: the target vocabulary is fitted on them)."""
    return logits.index_fill(1, torch.tensor([PAD, UNK, BOS], device=logits.device),
                             float("-inf")).log_softmax(1)  # fmt: skip


def finish(tokens: Tensor, weights: Tensor, scores: Tensor) -> Decoded:
    """Cut each row (B, L) at its first EOS (dropped) and zero what follows."""
    is_end = tokens == EOS
    steps = torch.arange(tokens.shape[1], device=tokens.device)
    first_end = torch.where(is_end.any(1), is_end.int().argmax(1), tokens.shape[1])
    keep = steps[None, :] < first_end[:, None]
    tokens = tokens.masked_fill(~keep, PAD)
    return Decoded(tokens, first_end, weights * keep[:, :, None], scores)
