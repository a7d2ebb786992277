"""The task models: padding never changes a prediction, the trace is the model on each
prefix, and generation streams the same function the model computes on whole sequences."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.models import POOLINGS, LanguageModel, SequenceClassifier, language_model, sample

pytestmark = pytest.mark.usefixtures("backend")


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_a_padded_batch_classifies_each_sequence_as_alone(pooling, bidirectional):
    model = SequenceClassifier(
        3, vocab_size=20, embedding_dim=6, cell="gru", hidden=8, layers=2,
        bidirectional=bidirectional, pooling=pooling,
    ).eval()  # fmt: skip
    lengths = torch.tensor([6, 2, 4])
    x = torch.randint(1, 20, (3, 6))
    batch = model(x, lengths)
    for b in range(3):
        alone = model(x[b : b + 1, : lengths[b]])
        torch.testing.assert_close(batch[b], alone[0], rtol=1e-5, atol=1e-5)


def test_trace_is_the_prediction_on_each_prefix():
    model = SequenceClassifier(2, vocab_size=30, embedding_dim=8, hidden=8).eval()
    words = torch.randint(1, 30, (5,))
    trace = model.trace(words)
    assert trace.shape == (5, 2)
    for t in range(5):
        expected = model(words[: t + 1].unsqueeze(0)).softmax(-1)[0]
        torch.testing.assert_close(trace[t], expected, rtol=1e-5, atol=1e-6)


def test_real_valued_sequences_go_through_a_linear_input():
    model = SequenceClassifier(9, input_size=12, embedding_dim=16, hidden=8, pooling="mean")
    logits = model(torch.randn(4, 29, 12), torch.tensor([29, 7, 12, 20]))
    assert logits.shape == (4, 9) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 5, "input_size": 3}, "exactly one of vocab_size"),
        ({}, "exactly one of vocab_size"),
        ({"vocab_size": 5, "pooling": "sum"}, "pooling must be one of"),
        ({"vocab_size": 5, "cell": "lsmt"}, "cell must be one of"),
    ],
)
def test_bad_classifier_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SequenceClassifier(2, **kwargs)


def test_language_model_state_carries_across_chunks():
    model = LanguageModel(25, embedding_dim=8, cell="lstm", hidden=12, layers=2).eval()
    tokens = torch.randint(0, 25, (3, 10))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat((first, second), 1), whole, rtol=1e-5, atol=1e-5)


def test_tied_weights_share_the_embedding():
    model = LanguageModel(25, embedding_dim=8, hidden=12)
    assert model.decoder.weight is model.embedding.weight and model.projection is not None
    untied = LanguageModel(25, embedding_dim=8, hidden=12, tie_weights=False)
    assert untied.decoder.weight is not untied.embedding.weight and untied.projection is None


def test_streamed_steps_give_the_whole_texts_logits():
    torch.manual_seed(1)
    model = LanguageModel(15, embedding_dim=6, cell="lstm", hidden=10, layers=2).eval()
    tokens = [3, 7, 1, 12, 5, 9, 0, 14]
    step = model.stepper()
    streamed = torch.stack([step(t) for t in tokens])
    whole, _ = model(torch.tensor([tokens]))
    torch.testing.assert_close(streamed, whole[0], rtol=1e-5, atol=1e-5)


def test_generation_samples_the_whole_texts_next_token_logits(monkeypatch):
    """generate() hands ``sample`` the logits the full forward pass gives for the prime and
    everything drawn so far, divided by the temperature."""
    seen = []

    def record(logits, top_k, top_p, generator):
        seen.append(logits)
        return int(logits.argmax())

    monkeypatch.setattr(language_model, "sample", record)
    torch.manual_seed(1)
    model = LanguageModel(15, embedding_dim=6, cell="gru", hidden=10, layers=2)
    prime = [3, 7, 1, 12, 5, 9]
    generated = model.generate(prime, 8, temperature=0.5)
    whole, _ = model.eval()(torch.tensor([prime + generated]))
    expected = whole[0, len(prime) - 1 : -1] / 0.5
    torch.testing.assert_close(torch.stack(seen), expected, rtol=1e-5, atol=1e-5)


def test_sampling_is_seeded_and_restricted():
    model = LanguageModel(15, embedding_dim=6, hidden=6, layers=1)
    draw = lambda: model.generate([1], 20, generator=torch.Generator().manual_seed(5))  # noqa: E731
    assert draw() == draw()
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    picks = {sample(logits, 2, None, torch.Generator().manual_seed(s)) for s in range(50)}
    assert picks == {1, 2}
    assert {sample(logits, None, 0.01, torch.Generator().manual_seed(s)) for s in range(20)} == {1}
    with pytest.raises(ValueError, match="prime must hold at least one token"):
        model.generate([], 5)


def test_last_pooling_is_each_directions_final_state():
    model = SequenceClassifier(2, vocab_size=20, embedding_dim=6, hidden=5, bidirectional=True)
    x, lengths = torch.randint(1, 20, (3, 6)), torch.tensor([6, 2, 4])
    y, states = model.stack(model.inputs(x), lengths=lengths)
    forward_state, backward_state = states[-1]
    expected = torch.cat((forward_state.h, backward_state.h), dim=1)
    torch.testing.assert_close(model.pool(y, lengths), expected)


def test_excluded_tokens_are_never_drawn():
    model = LanguageModel(6, embedding_dim=4, hidden=4, layers=1)
    with torch.no_grad():
        model.decoder.bias[0] = 50.0  # padding: by far the likeliest
    assert set(model.generate([2], 10)) == {0}
    assert 0 not in model.generate([2], 50, exclude=(0, 1))


def test_bits_per_char_of_a_uniform_model_is_log2_of_the_vocabulary():
    from rnnkit.tasks.charlm import bits_per_char

    model = LanguageModel(40, embedding_dim=8, hidden=8, layers=1)
    with torch.no_grad():  # zero decoder (tied: the embedding) and bias: uniform predictions
        model.embedding.weight.zero_()
        model.decoder.bias.zero_()
    bpc = bits_per_char(model, torch.randint(0, 40, (1000,)), lanes=4, steps=30)
    assert bpc == pytest.approx(math.log2(40), rel=1e-5)


def test_dropout_acts_on_word_embeddings_in_training_only():
    torch.manual_seed(0)
    model = SequenceClassifier(2, vocab_size=50, embedding_dim=64, hidden=8, dropout=0.5)
    seen = []
    model.stack.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    tokens = torch.randint(1, 50, (4, 30))
    model(tokens)
    model.eval()
    model(tokens)
    embedded = model.inputs(tokens)
    dropped, kept = seen
    zeroed = float((dropped == 0).double().mean())
    assert 0.45 < zeroed < 0.55  # about half of the entries
    torch.testing.assert_close(dropped[dropped != 0], 2 * embedded[dropped != 0])
    torch.testing.assert_close(kept, embedded)
