"""The one-to-many generator: the condition sets the initial state (and, with
``every_step``, is added to every input embedding), and sampling from it matches the model
run on its own output."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import LanguageModel
from rnnkit.models.conditional_generator import ConditionalGenerator

OPTIONS = {"embedding_dim": 6, "hidden": 6, "dropout": 0.0}


@pytest.mark.parametrize(("cell", "layers"), [("lstm", 2), ("gru", 1)])
def test_the_condition_is_the_initial_state(cell, layers):
    model = ConditionalGenerator(11, 3, every_step=False, cell=cell, layers=layers, **OPTIONS)
    model.eval()
    assert model.condition_input is None
    condition, tokens = torch.randn(2, 3), torch.randint(2, 11, (2, 5))
    state = model.initial_state(condition)
    flat = torch.tanh(condition @ model.bridge.weight.T + model.bridge.bias)
    torch.testing.assert_close(torch.cat([e for layer in state for e in layer], 1), flat)
    assert [type(layer).__name__ for layer in state] == [f"{cell.upper()}State"] * layers
    expected, _ = LanguageModel.forward(model, tokens, state)
    torch.testing.assert_close(model(tokens, condition), expected)
    other = model(tokens, torch.randn(2, 3))
    assert not torch.allclose(other, expected)


def test_every_step_adds_the_condition_to_each_input_embedding():
    model = ConditionalGenerator(11, 3, cell="lstm", layers=2, **OPTIONS).eval()
    condition, tokens = torch.randn(2, 3), torch.randint(2, 11, (2, 5))
    x = model.embedding(tokens) + (condition @ model.condition_input.weight.T)[:, None]
    y, _ = model.stack(x, model.initial_state(condition))  # the model's layers by hand
    expected = model.decoder(model.projection(y) if model.projection is not None else y)
    torch.testing.assert_close(model(tokens, condition), expected)
    # The offset moves every step's logits, not only the first one's.
    state_only, _ = LanguageModel.forward(model, tokens, model.initial_state(condition))
    assert (expected - state_only).abs().amax(dim=2).min() > 1e-4


@pytest.mark.parametrize("name", ["bridge.weight", "condition_input.weight"])
def test_gradients_reach_the_condition_weights(name):
    model = ConditionalGenerator(9, 2, cell="lstm", **OPTIONS).double()
    tokens = torch.randint(2, 9, (3, 4))
    condition = torch.eye(2, dtype=torch.float64)[[0, 1, 1]]
    params = dict(model.named_parameters())

    def loss(weight):
        logits = torch.func.functional_call(model, {**params, name: weight}, (tokens, condition))
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flatten())

    assert torch.autograd.gradcheck(loss, (params[name].detach().clone().requires_grad_(),))


@pytest.mark.parametrize("every_step", [False, True])
def test_most_likely_sampling_follows_the_model_until_the_stop_token(every_step):
    torch.manual_seed(2)
    model = ConditionalGenerator(7, 2, every_step, cell="lstm", **OPTIONS).eval()
    condition = torch.tensor([0.0, 1.0])
    start = [2]
    out = model.sample_sequence(condition, start, 12, stop=3, top_k=1, exclude=(0, 1))
    logits = model(torch.tensor([start + out]), condition[None])[0]
    masked = logits.index_fill(1, torch.tensor([0, 1]), float("-inf"))
    chosen = masked.argmax(1).tolist()
    assert chosen[: len(out)] == out and 3 not in out
    assert len(out) == 12 or chosen[len(out)] == 3
