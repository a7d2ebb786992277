"""Batched beam search with a length penalty, for ``Seq2Seq``.

Every row of the batch keeps ``beam`` hypotheses, all decoded together as B * K rows.
Each step extends every live hypothesis by every token and keeps the K best per row,
ranked by Wu et al. (2016)'s length-normalised score

    log p(y | x) / lp(y),    lp(y) = ((5 + |y|) / 6) ** alpha

so that, with alpha > 0, longer outputs are not penalised merely for having more factors
below one (alpha = 0: plain log-probability). A hypothesis that has produced EOS stays in
its row's beam unchanged (it is extended by padding at no cost), competing with the live
ones on its final score; the search ends when every kept hypothesis has ended.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.models.seq2seq import BOS, EOS, PAD, Decoded, Seq2Seq, finish, output_log_probs


def length_penalty_of(lengths: Tensor, alpha: float) -> Tensor:
    return ((5.0 + lengths) / 6.0) ** alpha


def beam_search(
    model: Seq2Seq,
    source: Tensor,
    lengths: Tensor,
    beam: int = 5,
    alpha: float = 0.6,
    max_length: int | None = None,
) -> Decoded:
    """source (B, S), lengths (B,) -> the best hypothesis of each row. Call under
    ``torch.no_grad`` in eval mode (``Seq2Seq.beam_search`` does)."""
    if not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam must be a positive int, got {beam!r}")
    if not alpha >= 0:
        raise ValueError(f"length_penalty must be >= 0, got {alpha}")
    batch, device = len(source), source.device
    memory, state = model.encode(source, lengths)
    memory = memory.repeat(beam)
    state = state.select(torch.arange(batch, device=device).repeat_interleave(beam))
    rows = batch * beam
    # Only the first hypothesis of each row is real at the start: the others are -inf.
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0
    scores = scores.view(rows)
    token = torch.full((rows,), BOS, dtype=torch.int64, device=device)
    ended = torch.zeros(rows, dtype=torch.bool, device=device)
    produced = torch.zeros(rows, device=device)  # tokens so far, EOS included
    tokens = torch.empty(rows, 0, dtype=torch.int64, device=device)
    weights = memory.mask.new_zeros(rows, 0, memory.mask.shape[1], dtype=scores.dtype)
    base = torch.arange(batch, device=device)[:, None] * beam
    for _ in range(max_length or 2 * source.shape[1] + 10):
        logits, state, step_weights = model.step(token, state, memory)
        log_probs = output_log_probs(logits)
        # An ended hypothesis continues with padding only, at no cost.
        log_probs[ended] = float("-inf")
        log_probs[ended, PAD] = 0
        vocab = log_probs.shape[1]
        candidates = scores[:, None] + log_probs  # (rows, V)
        grown = produced + (~ended)
        ranked = candidates / length_penalty_of(grown, alpha)[:, None]
        best = ranked.view(batch, beam * vocab).topk(beam, dim=1).indices  # (B, K)
        parents = (base + best // vocab).view(rows)
        token = (best % vocab).view(rows)
        scores = candidates.view(batch, beam * vocab).gather(1, best).view(rows)
        state = state.select(parents)
        tokens = torch.cat((tokens.index_select(0, parents), token[:, None]), 1)
        weights = torch.cat((weights.index_select(0, parents), step_weights[parents, None]), 1)
        produced = grown.index_select(0, parents)
        ended = ended.index_select(0, parents) | (token == EOS)
        if bool(ended.all()):
            break
    # topk ranks by the normalised score, best first: hypothesis 0 of every row wins.
    pick = base.squeeze(1)
    return finish(tokens[pick], weights[pick], scores[pick])
