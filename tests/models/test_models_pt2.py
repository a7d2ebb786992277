"""Task models under torch.compile (fullgraph, dynamic shapes, no recompile when B or T
changes) and torch.export (dynamic batch and time), against the same model in eager mode.
Models that take ``lengths`` run on padded batches. On the default engine only:
tests/bptt/test_ops.py covers both engines' ops under the same transforms."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import ConditionalGenerator, LanguageModel, Seq2Seq, SequenceClassifier
from rnnkit.models.forecaster import Forecaster

torch.manual_seed(0)


def _lengths(batch, steps):
    """(B,) in [1, T], the longest not first (the model sorts them)."""
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[1] = steps
    return lengths


MODELS = {
    "classifier_tokens_bidirectional_max": (
        lambda: SequenceClassifier(2, vocab_size=50, embedding_dim=8, hidden=16,
                                   bidirectional=True, pooling="max"),
        lambda b, t: (torch.randint(0, 50, (b, t)),),
    ),
    "classifier_tokens_padded_mean": (
        lambda: SequenceClassifier(2, vocab_size=50, embedding_dim=8, hidden=16,
                                   bidirectional=True, pooling="mean"),
        lambda b, t: (torch.randint(0, 50, (b, t)), _lengths(b, t)),
    ),
    "seq2seq_padded_source": (  # the target's length is fixed: the decoder is a loop
        lambda: Seq2Seq(30, 40, embedding_dim=8, hidden=16, layers=1),
        lambda b, t: (torch.randint(0, 30, (b, t)), _lengths(b, t), torch.randint(0, 40, (b, 3))),
    ),
    "classifier_features_gru_attention": (
        lambda: SequenceClassifier(3, input_size=5, hidden=16, cell="gru", pooling="attention"),
        lambda b, t: (torch.randn(b, t, 5),),
    ),
    "classifier_layernorm_last": (
        lambda: SequenceClassifier(3, input_size=5, hidden=16, cell="layernorm_lstm"),
        lambda b, t: (torch.randn(b, t, 5),),
    ),
    "language_model": (
        lambda: LanguageModel(40, embedding_dim=16, hidden=16, layers=2),
        lambda b, t: (torch.randint(0, 40, (b, t)),),
    ),
    "conditional_generator": (
        lambda: ConditionalGenerator(40, 5, embedding_dim=16, hidden=16),
        lambda b, t: (torch.randint(0, 40, (b, t)), torch.eye(5)[torch.arange(b) % 5]),
    ),
    "forecaster_autoregressive": (
        lambda: Forecaster(2, covariates=1, calendar=3, horizon=4, hidden=16,
                           decoder="autoregressive"),
        lambda b, t: (torch.randn(b, t, 2), torch.ones(b, t, 2), torch.randn(b, t, 1),
                      torch.randn(b, t + 4, 3)),
    ),
}  # fmt: skip


def _first(output):
    return output[0] if isinstance(output, tuple) else output


@pytest.mark.parametrize("name", list(MODELS))
def test_task_model_compiles_without_graph_breaks_or_recompiles(name):
    make, data = MODELS[name]
    model = make().eval()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    # Sizes that equal no feature size: dynamo would otherwise take them for the same
    # symbol ("duck sizing") and recompile when they part.
    try:
        for i, (batch, steps) in enumerate(((10, 20), (12, 25), (14, 30))):
            if i == 1:
                torch.compiler.set_stance("fail_on_recompile")
            inputs = data(batch, steps)
            torch.testing.assert_close(
                _first(compiled(*inputs)), _first(model(*inputs)), atol=1e-5, rtol=0
            )
    finally:
        torch.compiler.set_stance("default")


@pytest.mark.parametrize("name", list(MODELS))
def test_task_model_exports_with_dynamic_batch_and_time(name):
    make, data = MODELS[name]
    model = make().eval()
    batch, steps = torch.export.Dim("B", min=2, max=64), torch.export.Dim("T", min=2, max=512)
    example = data(3, 16)
    shapes = [{0: batch, 1: steps} for _ in example]
    if name in ("conditional_generator", "classifier_tokens_padded_mean", "seq2seq_padded_source"):
        shapes[1] = {0: batch}  # a one-hot condition, or lengths
    if name == "seq2seq_padded_source":
        shapes[2] = {0: batch}
    if name == "forecaster_autoregressive":  # the calendar runs H steps further
        shapes[3] = {0: batch, 1: steps + 4}
    program = torch.export.export(model, example, dynamic_shapes=tuple(shapes))
    inputs = data(5, 37)
    torch.testing.assert_close(
        _first(program.module()(*inputs)), _first(model(*inputs)), atol=1e-5, rtol=0
    )
