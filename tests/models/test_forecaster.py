"""The forecaster: shapes, distributions, the relative level, teacher forcing against its
own step loop, and the losses against torch.distributions and a hand-written pinball."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.models.forecaster import Forecaster

B, W, H, K, P, F = 3, 10, 4, 2, 3, 2


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, W, K, generator=g),
        (torch.rand(B, W, K, generator=g) > 0.2).float(),
        torch.randn(B, W, P, generator=g),
        torch.randn(B, W + H, F, generator=g),
    )


def _model(decoder, distribution, **kwargs):
    torch.manual_seed(0)
    return Forecaster(K, P, F, H, hidden=8, decoder=decoder, distribution=distribution,
                      **kwargs).eval()  # fmt: skip


KINDS = list(itertools.product(("direct", "autoregressive"), ("gaussian", "quantile")))


@pytest.mark.parametrize(("decoder", "distribution"), KINDS)
def test_outputs_are_valid_distributions(decoder, distribution):
    model = _model(decoder, distribution)
    parameters = model(*_inputs())
    assert parameters.shape == (B, H, K, 2 if distribution == "gaussian" else 3)
    if distribution == "gaussian":
        assert (parameters[..., 1] > 0).all()
    else:
        assert (parameters.diff(dim=-1) > 0).all()  # quantiles never cross
    central, lower, upper = model.interval(parameters, 0.8)
    assert (lower < central).all() and (central < upper).all()


@pytest.mark.parametrize(("decoder", "distribution"), KINDS)
def test_a_shifted_past_shifts_the_forecast(decoder, distribution):
    model = _model(decoder, distribution)
    past, observed, covariates, calendar = _inputs()
    shift = torch.tensor([5.0, -3.0])
    before = model(past, observed, covariates, calendar)
    after = model(past + shift, observed, covariates, calendar)
    moved = before.clone()
    moved[..., 0] += shift if distribution == "gaussian" else 0
    if distribution == "quantile":
        moved += shift.view(1, 1, K, 1)
    torch.testing.assert_close(after, moved, rtol=1e-5, atol=1e-4)
    absolute = _model(decoder, distribution, relative=False)
    assert not torch.allclose(absolute(past + shift, observed, covariates, calendar),
                              absolute(past, observed, covariates, calendar))  # fmt: skip


@pytest.mark.parametrize("distribution", ["gaussian", "quantile"])
def test_teacher_forcing_on_its_own_predictions_is_its_forecast(distribution):
    model = _model("autoregressive", distribution)
    inputs = _inputs()
    forecast = model(*inputs)
    own = model._central(forecast)  # (B, H, K): what the step loop fed back
    torch.testing.assert_close(model(*inputs, future=own), forecast, rtol=1e-5, atol=1e-5)


def test_gaussian_loss_is_the_masked_negative_log_likelihood():
    model = _model("direct", "gaussian")
    parameters = model(*_inputs())
    future = torch.randn(B, H, K)
    mask = (torch.rand(B, H, K) > 0.3).float()
    normal = torch.distributions.Normal(parameters[..., 0], parameters[..., 1])
    expected = -(normal.log_prob(future) * mask).sum() / mask.sum()
    torch.testing.assert_close(model.loss(parameters, future, mask), expected)
    changed = torch.where(mask.bool(), future, future + 100)  # unobserved values are skipped
    torch.testing.assert_close(model.loss(parameters, changed, mask), expected)


def test_quantile_loss_is_the_pinball_loss():
    model = _model("direct", "quantile", quantiles=(0.1, 0.5, 0.9))
    parameters = torch.tensor([[[[0.0, 1.0, 2.0]]]])  # one value, three quantiles
    future, mask = torch.tensor([[[1.5]]]), torch.ones(1, 1, 1)
    # q * (y - f) when y >= f, else (1 - q) * (f - y)
    expected = (0.1 * 1.5 + 0.5 * 0.5 + 0.1 * 0.5) / 3
    assert float(model.loss(parameters, future, mask)) == pytest.approx(expected)


def test_gaussian_interval_uses_the_normal_quantile():
    model = _model("direct", "gaussian")
    parameters = torch.tensor([[[[10.0, 2.0]]]])
    _, lower, upper = model.interval(parameters, 0.9)
    assert float(upper) == pytest.approx(10 + 1.6448536 * 2, rel=1e-5)
    assert float(lower) == pytest.approx(10 - 1.6448536 * 2, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decoder": "seq"}, "decoder must be one of"),
        ({"distribution": "poisson"}, "distribution must be one of"),
        ({"horizon": 0}, "horizon must be a positive int"),
        ({"distribution": "quantile", "quantiles": (0.9, 0.1)}, "quantiles must rise"),
        ({"distribution": "quantile", "quantiles": (0.0, 0.5)}, "quantiles must rise"),
    ],
)
def test_bad_forecaster_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Forecaster(1, **kwargs)


def test_seasonal_lags_are_the_values_one_season_before_each_future_period():
    model = Forecaster(K, P, F, horizon=5, hidden=8, lags=(3, 2))
    relative = torch.arange(B * W * K, dtype=torch.float32).view(B, W, K)
    calendar = torch.randn(B, 5, F)
    ahead = model._ahead(relative, calendar)  # (B, H, F + L K)
    for h in range(5):
        # lag 3: periods T-3, T-2, T-1, T-3, T-2; lag 2: T-2, T-1, T-2, T-1, T-2
        expected = torch.cat((calendar[:, h], relative[:, W + h % 3 - 3],
                              relative[:, W + h % 2 - 2]), dim=1)  # fmt: skip
        assert torch.equal(ahead[:, h], expected)


@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_a_model_with_lags_forecasts_and_refuses_a_window_shorter_than_a_lag(decoder):
    model = _model(decoder, "gaussian", lags=(4,))
    assert model(*_inputs()).shape == (B, H, K, 2)
    past, observed, covariates, calendar = _inputs()
    with pytest.raises(ValueError, match="fewer than the longest lag 4"):
        model(past[:, :3], observed[:, :3], covariates[:, :3], calendar[:, : 3 + H])


def test_the_covariates_mask_is_read_only_by_models_built_with_it():
    past, observed, covariates, calendar = _inputs()
    seen = torch.ones(B, W, K + P)
    gaps = seen.clone()
    gaps[:, 2:5, K:] = 0  # covariates missing for three periods (filled in the input)
    with_mask = _model("direct", "gaussian", covariate_mask=True)
    without = _model("direct", "gaussian")
    assert not torch.allclose(with_mask(past, seen, covariates, calendar),
                              with_mask(past, gaps, covariates, calendar))  # fmt: skip
    assert torch.equal(without(past, seen, covariates, calendar),
                       without(past, gaps, covariates, calendar))  # fmt: skip
