"""The encoder-decoder: attention scores by their formulas, teacher forcing against
stepping, scheduled sampling, greedy decoding, and beam search against brute force."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.models.attention import AdditiveAttention, MultiplicativeAttention
from rnnkit.models.beam_search import length_penalty_of
from rnnkit.models.seq2seq import BOS, EOS, PAD, Seq2Seq, finish, output_log_probs


def _model(attention="additive", cell="lstm", bidirectional=True, target_vocab=9):
    torch.manual_seed(1)
    return Seq2Seq(7, target_vocab, 6, cell, 8, 1, bidirectional, 0.0, attention).eval()


def _source():
    source = torch.tensor([[4, 5, 6, 2, 3], [6, 5, 0, 0, 0], [3, 4, 5, 6, 0]])
    return source, torch.tensor([5, 2, 4])


@pytest.mark.parametrize("kind", [AdditiveAttention, MultiplicativeAttention])
def test_attention_weights_follow_the_score_formula(kind):
    attention = kind(3, 4).double()
    query, memory = torch.randn(2, 3).double(), torch.randn(2, 5, 4).double()
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    context, weights = attention(query, attention.keys(memory), memory, mask)
    if kind is AdditiveAttention:
        hidden = torch.tanh(memory @ attention.memory.weight.T + attention.memory.bias
                            + (query @ attention.query.weight.T)[:, None])  # fmt: skip
        scores = (hidden @ attention.v.weight.T).squeeze(2)
    else:
        scores = torch.einsum("bq,qm,bsm->bs", query, attention.memory.weight, memory)
    expected = torch.cat((scores[0].softmax(0), torch.cat((scores[1, :3].softmax(0),
                                                           torch.zeros(2)))))  # fmt: skip
    torch.testing.assert_close(weights.flatten(), expected)
    torch.testing.assert_close(context, torch.einsum("bs,bsm->bm", weights, memory))


def test_padding_does_not_change_the_output():
    model = _model()
    source, lengths = _source()
    target = torch.tensor([[BOS, 4, 5], [BOS, 6, 4], [BOS, 5, 5]])
    logits, weights = model(source, lengths, target)
    alone, alone_weights = model(source[1:2, :2], lengths[1:2], target[1:2])
    torch.testing.assert_close(logits[1:2], alone)
    torch.testing.assert_close(weights[1:2, :, :2], alone_weights)
    assert bool((weights[1, :, 2:] == 0).all())


@pytest.mark.parametrize("attention", ["additive", "multiplicative"])
def test_gradients_match_finite_differences(attention):
    model = _model(attention).double()
    source, lengths = _source()
    target = torch.tensor([[BOS, 4, 5], [BOS, 6, 4], [BOS, 5, 5]])
    # one tensor of every part: embedding, both encoder directions, bridge, decoder, attention
    names = ["source_embedding.weight", "encoder.layers.0.forward_layer.cell.bias_ih",
             "encoder.layers.0.backward_layer.cell.bias_hh", "bridge.bias", "decoder.bias_hh",
             "attention.memory.weight", "combine.bias"]  # fmt: skip
    params = dict(model.named_parameters())

    def loss(*tensors):
        replaced = {**params, **dict(zip(names, tensors, strict=True))}
        logits, _ = torch.func.functional_call(model, replaced, (source, lengths, target))
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.roll(-1, 1).flatten())

    inputs = tuple(params[n].detach().clone().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(loss, inputs)


def test_teacher_forcing_on_the_greedy_output_reproduces_it():
    model = _model(cell="gru")
    with torch.no_grad():
        model.output.bias[EOS] += 0.2  # so that one row ends at once and the others run on
    source, lengths = _source()
    decoded = model.greedy(source, lengths, max_length=6)
    steps = decoded.tokens.shape[1]
    assert sorted(decoded.lengths.tolist()) == [0, 6, 6]
    target_in = torch.cat((torch.full((3, 1), BOS), decoded.tokens[:, :-1]), 1)
    logits, weights = model(source, lengths, target_in)
    for row in range(3):
        length = int(decoded.lengths[row])
        own = output_log_probs(logits[row]).argmax(1)
        assert own[:length].tolist() == decoded.tokens[row, :length].tolist()
        torch.testing.assert_close(weights[row, :length], decoded.attention[row, :length])
        if length < steps:
            assert int(own[length]) == EOS
        chosen = decoded.tokens[row, :length].tolist() + ([EOS] if length < steps else [])
        expected = output_log_probs(logits[row].detach())[range(len(chosen)), chosen].sum()
        torch.testing.assert_close(decoded.scores[row], expected)


def test_full_scheduled_sampling_ignores_the_given_tokens():
    model = _model()
    source, lengths = _source()
    one = torch.tensor([[BOS, 4, 5, 6]] * 3)
    other = torch.tensor([[BOS, 6, 6, 4]] * 3)
    sampled_one, _ = model(source, lengths, one, sampling=1.0)
    sampled_other, _ = model(source, lengths, other, sampling=1.0)
    torch.testing.assert_close(sampled_one, sampled_other)
    forced_one, _ = model(source, lengths, one)
    forced_other, _ = model(source, lengths, other)
    torch.testing.assert_close(forced_one[:, 0], forced_other[:, 0])  # same first input
    assert not torch.allclose(forced_one[:, 1:], forced_other[:, 1:])


def test_partial_scheduled_sampling_mixes_own_and_given_tokens():
    model = _model()
    source, lengths = _source()
    given = torch.tensor([[BOS, 8, 8, 8, 8, 8]] * 3)
    forced, _ = model(source, lengths, given)
    free, _ = model(source, lengths, given, sampling=1.0)
    mixed, _ = model(
        source, lengths, given, sampling=0.5, generator=torch.Generator().manual_seed(3)
    )
    like_forced = [torch.allclose(mixed[:, t], forced[:, t]) for t in range(1, 6)]
    like_free = [torch.allclose(mixed[:, t], free[:, t]) for t in range(1, 6)]
    assert not all(like_forced) and not all(like_free)


def test_beam_of_one_is_greedy():
    model = _model()
    source, lengths = _source()
    greedy = model.greedy(source, lengths, max_length=7)
    beam = model.beam_search(source, lengths, beam=1, max_length=7)
    assert torch.equal(greedy.tokens, beam.tokens) and torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)
    torch.testing.assert_close(greedy.attention, beam.attention)


@pytest.mark.parametrize("alpha", [0.0, 3.0])
def test_a_wide_beam_finds_the_best_sequence(alpha):
    """Outputs may hold EOS, 4 and 5; a beam of 9 keeps every prefix of up to 2 tokens,
    so beam search over 3 steps is exhaustive and must find the brute-force optimum."""
    torch.manual_seed(0)
    model = Seq2Seq(7, 6, 5, "lstm", 6, 1, False, 0.0, "multiplicative").eval()
    with torch.no_grad():  # EOS a little less likely: the length penalty now decides
        model.output.bias[EOS] -= 0.6  # between ending at once (alpha 0) and going on (3)
    source, lengths = _source()
    decoded = model.beam_search(source, lengths, beam=9, length_penalty=alpha, max_length=3)
    for row in range(3):
        best = None
        for length in (1, 2, 3):
            for body in itertools.product((4, 5), repeat=length - 1):
                for last in (EOS, 4, 5) if length == 3 else (EOS,):
                    sequence = [*body, last]
                    target_in = torch.tensor([[BOS, *sequence[:-1]]])
                    logits, _ = model(source[row : row + 1], lengths[row : row + 1], target_in)
                    score = float(
                        output_log_probs(logits[0].detach())
                        .gather(1, torch.tensor(sequence)[:, None])
                        .sum()
                    )
                    ranked = score / float(length_penalty_of(torch.tensor(float(length)), alpha))
                    if best is None or ranked > best[0]:
                        best = (ranked, score, [t for t in sequence if t != EOS])
        length = int(decoded.lengths[row])
        assert decoded.tokens[row, :length].tolist() == best[2]
        assert float(decoded.scores[row]) == pytest.approx(best[1], abs=1e-5)


def test_finish_cuts_at_the_first_end():
    tokens = torch.tensor([[4, EOS, 5, 6], [4, 5, 6, 7]])
    weights = torch.ones(2, 4, 3)
    done = finish(tokens, weights, torch.zeros(2))
    assert done.lengths.tolist() == [1, 4]
    assert done.tokens.tolist() == [[4, PAD, PAD, PAD], [4, 5, 6, 7]]
    assert done.attention[0].sum().item() == 3 and done.attention[1].sum().item() == 12


def test_outputs_never_hold_padding_unknown_or_start():
    log_probs = output_log_probs(torch.zeros(2, 6))
    assert bool(torch.isinf(log_probs[:, :3]).all())
    torch.testing.assert_close(log_probs[:, 3:].exp().sum(1), torch.ones(2))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(5, 5, attention="dot")
    model = _model()
    source, lengths = _source()
    with pytest.raises(ValueError, match="sampling must be a probability"):
        model(source, lengths, torch.tensor([[BOS]] * 3), sampling=1.5)
    with pytest.raises(ValueError, match="beam must be a positive int"):
        model.beam_search(source, lengths, beam=0)
    with pytest.raises(ValueError, match="length_penalty must be >= 0"):
        model.beam_search(source, lengths, length_penalty=-1)
