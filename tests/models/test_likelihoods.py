"""The distribution heads of probabilistic forecasts against torch's and scipy's own
distributions: parameters in range, the loss is the negative log-likelihood, quantiles."""

from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch.distributions import NegativeBinomial, Normal, StudentT

from rnnkit.models.likelihoods import LIKELIHOODS, QuantileHead

RAW = torch.tensor([[0.3, -1.2, 0.5], [-2.0, 0.7, 3.0]], dtype=torch.float64)


def test_gaussian_loss_and_quantiles_are_the_normal_distributions():
    head = LIKELIHOODS["gaussian"]()
    params = head.parameters(RAW[:, :2])
    scale = torch.tensor([2.0, 10.0], dtype=torch.float64)
    y = torch.tensor([1.0, -3.0], dtype=torch.float64)
    expected = -Normal(params[:, 0], params[:, 1]).log_prob(y / scale)
    torch.testing.assert_close(head.loss(params, y, scale), expected)
    q = head.quantiles(params, (0.1, 0.9), scale)
    normal = Normal(params[:, 0] * scale, params[:, 1] * scale)
    torch.testing.assert_close(q[:, 1], normal.icdf(torch.tensor(0.9, dtype=torch.float64)))


def test_student_t_has_more_than_two_degrees_of_freedom_and_sampled_quantiles():
    head = LIKELIHOODS["student-t"]()
    params = head.parameters(RAW)
    assert (params[:, 1] > 0).all() and (params[:, 2] > 2).all()
    y, scale = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    expected = -StudentT(params[:, 2], params[:, 0], params[:, 1]).log_prob(y)
    torch.testing.assert_close(head.loss(params, y, scale), expected)
    q = head.quantiles(params, (0.1, 0.5, 0.9), scale)
    exact = stats.t.ppf([0.1, 0.5, 0.9], params[:, 2:3].numpy(), params[:, :1].numpy(),
                        params[:, 1:2].numpy())  # fmt: skip
    torch.testing.assert_close(q, torch.from_numpy(exact), atol=0.1, rtol=0.05)
    torch.testing.assert_close(head.quantiles(params, (0.1,), scale), q[:, :1])  # the same draws


def test_negative_binomial_is_for_counts_with_its_mean_and_dispersion_scaled():
    head = LIKELIHOODS["negative-binomial"]()
    params = head.parameters(RAW[:, :2])
    scale = torch.tensor([4.0, 9.0], dtype=torch.float64)
    mu, alpha = params[:, 0] * scale, params[:, 1] / scale.sqrt()
    counts = torch.tensor([3.0, 0.0], dtype=torch.float64)
    torch_nb = NegativeBinomial(total_count=1 / alpha, probs=mu * alpha / (1 + mu * alpha))
    torch.testing.assert_close(head.loss(params, counts, scale), -torch_nb.log_prob(counts))
    torch.testing.assert_close(head.mean(params, scale), torch_nb.mean)
    q = head.quantiles(params, (0.5, 0.9), scale)
    n, p = (1 / alpha).numpy(), (1 / (1 + mu * alpha)).numpy()
    exact = torch.from_numpy(stats.nbinom.ppf([[0.5], [0.9]], n, p).T)
    assert (q - exact).abs().max() <= 1.0
    with pytest.raises(ValueError, match="counts"):
        head.loss(params, torch.tensor([-1.0, 2.0], dtype=torch.float64), scale)


def test_quantile_head_never_crosses_and_interpolates():
    head = QuantileHead((0.1, 0.5, 0.9))
    raw = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    params = head.parameters(raw)
    assert (params.diff(dim=-1) > 0).all()
    one = torch.ones(5, dtype=torch.float64)
    torch.testing.assert_close(head.quantiles(params, (0.1, 0.9), one), params[:, [0, 2]])
    middle = head.quantiles(params, (0.3,), one)[:, 0]
    torch.testing.assert_close(middle, (params[:, 0] + params[:, 1]) / 2)
    y = params[:, 2] + 1.0  # above every quantile: the pinball loss is q * error
    expected = (0.1 * (y - params[:, 0]) + 0.5 * (y - params[:, 1]) + 0.9 * 1.0) / 3
    torch.testing.assert_close(head.loss(params, y, one), expected)
    with pytest.raises(ValueError, match="rise strictly"):
        QuantileHead((0.5, 0.1))


@pytest.mark.parametrize("name", ["gaussian", "student-t", "negative-binomial", "quantile"])
def test_sample_paths_follow_each_periods_distribution(name):
    """Draws (S, N, H): their empirical deciles are the head's own, and a seed repeats them."""
    head = LIKELIHOODS[name]()
    raw = torch.linspace(-1.0, 1.5, 2 * 3 * head.size, dtype=torch.float64).view(2, 3, head.size)
    params = head.parameters(raw)
    scale = torch.tensor([[4.0], [30.0]], dtype=torch.float64)  # (N, 1): per series
    draws = head.sample(params, scale, 20_000, seed=3)
    assert draws.shape == (20_000, 2, 3)
    torch.testing.assert_close(head.sample(params, scale, 20_000, seed=3), draws)
    levels = (0.1, 0.5, 0.9)
    expected = head.quantiles(params, levels, scale)
    empirical = torch.quantile(draws, torch.tensor(levels, dtype=torch.float64), dim=0)
    spread = (expected[..., -1] - expected[..., 0]).unsqueeze(-1)
    slack = 1.0 if name == "negative-binomial" else 0.0  # counts: quantiles are whole numbers
    assert ((empirical.movedim(0, -1) - expected).abs() <= 0.05 * spread + slack).all()
