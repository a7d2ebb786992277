"""The CTC speech recogniser: output shapes and lengths, padding invariance, both
normalisations against numpy and a hand loop, SpecAugment's masks, streaming against the
offline model, float64 gradcheck of the CTC loss, the engine's parameter gradients
against the autograd unroll, and a tiny model learning a synthetic two-label task."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.nn.functional import ctc_loss

from rnnkit.bptt import autograd_unroll
from rnnkit.layers import Recurrent
from rnnkit.models.speech_recognizer import (
    NORMALISATIONS,
    PRIOR_FRAMES,
    SpecAugment,
    SpeechRecognizer,
)
from tests.conftest import assert_close

NO_AUGMENT = (0, 0, 0, 0.0)


def tiny(
    n_features: int = 3,
    alphabet: int = 4,
    hidden: int = 6,
    layers: int = 1,
    bidirectional: bool = True,
    subsample: int = 2,
    cell: str = "lstm",
    normalisation: str = "utterance",
    warmup: int = 0,
) -> SpeechRecognizer:
    """A small recogniser, dropout and SpecAugment off."""
    return SpeechRecognizer(
        n_features, alphabet, cell=cell, hidden=hidden, layers=layers,
        bidirectional=bidirectional, subsample=subsample, dropout=0.0,
        normalisation=normalisation, spec_augment=SpecAugment(*NO_AUGMENT), warmup=warmup,
    )  # fmt: skip


def random_stats(model: SpeechRecognizer) -> None:
    """Training statistics far from (0, 1), so that a stream ignoring them would show."""
    with torch.no_grad():
        model.mean.copy_(torch.randn_like(model.mean) * 2)
        model.std.copy_(torch.rand_like(model.std) * 2 + 0.5)


def steps_of(frames: int, stride: int) -> int:
    """Count the windows of 3 frames starting at 0, S, 2S, ... that fit in the utterance."""
    return sum(1 for start in range(0, frames, stride) if start + 3 <= frames)


def greedy(log_probs: Tensor) -> list[int]:
    """(T', K+1) -> labels: best label per step, repeats merged, blanks (0) dropped."""
    best = log_probs.argmax(-1).tolist()
    return [label for label, _ in itertools.groupby(best) if label != 0]


def ctc(log_probs: Tensor, steps: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
    """The CTC loss of the model's (B, T', K+1) output."""
    return ctc_loss(log_probs.transpose(0, 1), targets, steps, target_lengths, reduction="sum")


# ----- shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_shapes_lengths_and_normalised_rows(stride):
    lengths = torch.tensor([17, 16, 9, 4, 3, 2, 1])
    model = tiny(n_features=5, alphabet=6, subsample=stride).eval()
    log_probs, steps = model(torch.randn(len(lengths), 17, 5), lengths)
    assert log_probs.shape == (len(lengths), steps_of(17, stride), 7)
    assert steps.tolist() == [steps_of(int(n), stride) for n in lengths]
    assert steps.tolist()[-2:] == [0, 0]  # T < 3: no step
    sums = log_probs.double().exp().sum(-1)
    assert_close(sums, torch.ones_like(sums), 1e-5, "row sums")


def test_a_batch_of_only_too_short_utterances_has_no_steps():
    model = tiny(n_features=5, alphabet=6).eval()
    log_probs, steps = model(torch.randn(3, 2, 5), torch.tensor([2, 1, 0]))
    assert steps.tolist() == [0, 0, 0]
    assert log_probs.shape[0] == 3 and log_probs.shape[2] == 7


# ----- padding ------------------------------------------------------------------------

LAYOUTS = [(True, "utterance"), (False, "utterance"), (False, "running")]


@pytest.mark.parametrize(("bidirectional", "normalisation"), LAYOUTS)
def test_an_utterance_alone_equals_it_in_a_padded_batch(backend, bidirectional, normalisation):
    model = tiny(layers=2, bidirectional=bidirectional, normalisation=normalisation).eval()
    random_stats(model)
    short, long = torch.randn(1, 11, 3), torch.randn(1, 20, 3)
    # The padding is loud noise, not 0, so any of it leaking into the short one shows.
    padded = torch.cat((short, 50 * torch.randn(1, 9, 3)), dim=1)
    alone, alone_steps = model(short, torch.tensor([11]))
    batch, steps = model(torch.cat((long, padded)), torch.tensor([20, 11]))
    assert steps.tolist() == [9, 5] and alone_steps.tolist() == [5]
    assert_close(batch[1, :5], alone[0], 1e-5, "short utterance in the batch")
    long_alone, _ = model(long, torch.tensor([20]))
    assert_close(batch[0], long_alone[0], 1e-5, "long utterance in the batch")


# ----- normalisation ------------------------------------------------------------------


def test_utterance_normalisation_gives_zero_mean_unit_deviation_and_zero_padding():
    model = tiny(n_features=4)
    lengths = [12, 7, 3]
    x = torch.randn(3, 12, 4) * torch.tensor([1.0, 5.0, 0.1, 3.0]) + torch.tensor([2, -4, 9, 0])
    out = model.normalise(x, torch.tensor(lengths)).numpy()
    for b, n in enumerate(lengths):
        valid = out[b, :n].astype(np.float64)
        np.testing.assert_allclose(valid.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(valid.std(0), 1, atol=1e-3)
        assert (out[b, n:] == 0).all()
        raw = x[b, :n].double().numpy()
        np.testing.assert_allclose(valid, (raw - raw.mean(0)) / raw.std(0), atol=1e-3)


def test_running_normalisation_matches_a_hand_loop():
    model = tiny(n_features=3, bidirectional=False, normalisation="running")
    random_stats(model)
    mu, sigma = model.mean.double().numpy(), model.std.double().numpy()
    lengths = [9, 4]
    x = torch.randn(2, 9, 3) * 3 + 1
    out = model.normalise(x, torch.tensor(lengths)).double().numpy()
    expected = np.zeros((2, 9, 3))
    for b, n in enumerate(lengths):
        total = PRIOR_FRAMES * mu
        for t in range(n):
            total = total + x[b, t].double().numpy()
            expected[b, t] = (x[b, t].double().numpy() - total / (PRIOR_FRAMES + t + 1)) / sigma
    np.testing.assert_allclose(out, expected, atol=1e-5)


# ----- bad settings -------------------------------------------------------------------


def test_bad_settings_are_refused():
    assert "batch" not in NORMALISATIONS
    with pytest.raises(ValueError, match="'batch'"):
        SpeechRecognizer(3, 4, normalisation="batch")
    with pytest.raises(ValueError, match="bidirectional"):
        SpeechRecognizer(3, 4, bidirectional=True, normalisation="running")
    with pytest.raises(ValueError, match="unidirectional"):
        tiny(bidirectional=True).stream()
    with pytest.raises(ValueError, match="running"):
        tiny(bidirectional=False, normalisation="utterance").stream()


# ----- streaming ----------------------------------------------------------------------


@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_streaming_in_random_chunks_equals_the_offline_model(backend, cell, stride):
    model = tiny(layers=2, bidirectional=False, subsample=stride, cell=cell,
                 normalisation="running").eval()  # fmt: skip
    random_stats(model)
    frames = 40
    x = torch.randn(1, frames, 3) * 2 + 1
    offline, steps = model(x, torch.tensor([frames]))
    rng = np.random.default_rng(stride)
    sizes = [0, 1, 2, 0, 1]  # the first pushes complete no step at all
    while sum(sizes) < frames:
        sizes.append(int(rng.integers(0, 7)))
    stream, start, rows = model.stream(), 0, []
    for size in sizes:
        rows.append(stream.push(x[0, start : start + size]))
        start += size
    streamed = torch.cat(rows)
    assert [len(r) for r in rows[:3]] == [0, 0, 1]  # one step as soon as 3 frames are in
    assert streamed.shape == (int(steps), 5)
    assert_close(streamed, offline[0], 1e-5, "streamed log-probabilities")


@pytest.mark.parametrize("stride", [2, 3])
def test_a_warm_started_stream_equals_the_offline_model(backend, stride):
    """With a warm-up, offline and streamed, the utterance follows ``warmup`` copies of its
    first frame, whose outputs are dropped."""
    warmup = 4 * stride
    model = tiny(layers=2, bidirectional=False, subsample=stride, normalisation="running",
                 warmup=warmup).eval()  # fmt: skip
    random_stats(model)
    x = torch.randn(1, 31, 3) * 2 + 1
    offline, steps = model(x, torch.tensor([31]))
    cold = tiny(layers=2, bidirectional=False, subsample=stride, normalisation="running").eval()
    cold.load_state_dict(model.state_dict())
    warmed = torch.cat((x[:, :1].expand(-1, warmup, -1), x), 1)
    reference, _ = cold(warmed, torch.tensor([31 + warmup]))  # the warm-up by hand
    assert int(steps) == (31 - 3) // stride + 1
    assert_close(offline[0], reference[0, warmup // stride :], 1e-6, "warm-started outputs")
    stream = model.stream()
    rows = [stream.push(x[0, a:b]) for a, b in ((0, 0), (0, 1), (1, 2), (2, 17), (17, 31))]
    assert [len(r) for r in rows[:3]] == [0, 0, 0]  # the warm-up's steps are not shown
    assert_close(torch.cat(rows), offline[0], 1e-5, "streamed log-probabilities")


def test_training_varies_the_warm_up_and_refuses_bad_ones():
    model = tiny(bidirectional=False, subsample=2, normalisation="running", warmup=40).train()
    drawn = {model.warmup_frames() for _ in range(200)}
    assert drawn <= set(range(20, 61, 2)) and len(drawn) > 10  # multiples of 2 in [20, 60]
    assert model.eval().warmup_frames() == 40
    with pytest.raises(ValueError, match="warmup"):
        tiny(bidirectional=False, subsample=2, warmup=3)
    with pytest.raises(ValueError, match="warmup"):
        tiny(bidirectional=True, subsample=2, warmup=4)


# ----- SpecAugment --------------------------------------------------------------------


def covered(points: list[int], width: int, count: int) -> bool:
    """Can ``count`` intervals of ``width`` cover ``points``? (Greedy from the left.)"""
    used, reach = 0, -1
    for p in sorted(points):
        if p >= reach:
            used, reach = used + 1, p + width
    return used <= count


def test_spec_augment_is_the_identity_in_eval_mode():
    augment = SpecAugment(3, 5, 3, 0.5).eval()
    x = torch.randn(4, 30, 10)
    assert torch.equal(augment(x, torch.tensor([30, 20, 10, 5])), x)


def test_spec_augment_masks_whole_bands_and_short_spans_only():
    masks, width, fraction = 2, 3, 0.2
    augment = SpecAugment(masks, width, masks, fraction).train()
    lengths = torch.tensor([40, 33, 20, 11] * 8)
    x = torch.randn(len(lengths), 40, 16) + 0.1  # no exact zeros
    out = augment(x, lengths)
    changed = out != x
    assert (out[changed] == 0).all(), "a value was changed but not set to 0"
    saw_band = saw_span = False
    for b, n in enumerate(lengths.tolist()):
        zero = changed[b]  # (T, C)
        bands = [c for c in range(16) if zero[:, c].all()]
        spans = [t for t in range(40) if zero[t].all()]
        rebuilt = torch.zeros_like(zero)
        rebuilt[:, bands] = True
        rebuilt[spans] = True
        assert torch.equal(zero, rebuilt), f"utterance {b}: a mask that is no band or span"
        assert covered(bands, width, masks), f"utterance {b}: bands {bands}"
        assert all(t < n for t in spans), f"utterance {b}: span past its end {n}"
        assert covered(spans, int(fraction * n), masks), f"utterance {b}: spans {spans}"
        saw_band, saw_span = saw_band or bool(bands), saw_span or bool(spans)
    assert saw_band and saw_span, "in training, SpecAugment should mask something"


def test_spec_augment_with_zero_widths_changes_nothing():
    augment = SpecAugment(2, 0, 2, 0.0).train()
    x = torch.randn(4, 30, 10)
    assert torch.equal(augment(x, torch.tensor([30, 20, 10, 5])), x)


# ----- gradients ----------------------------------------------------------------------

TARGETS = torch.tensor([1, 2, 2, 3, 1])  # "1 2" and "2 3 1", concatenated
TARGET_LENGTHS = torch.tensor([2, 3])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_gradcheck_of_the_ctc_loss_in_the_features(backend, bidirectional):
    model = tiny(n_features=2, hidden=4, bidirectional=bidirectional, alphabet=3)
    model = model.double().eval()
    lengths = torch.tensor([10, 7])  # T' = 4 and 3: room for both labellings
    x = torch.randn(2, 10, 2, dtype=torch.float64, requires_grad=True)

    def loss(x: Tensor) -> Tensor:
        log_probs, steps = model(x, lengths)
        return ctc(log_probs, steps, TARGETS, TARGET_LENGTHS)

    assert torch.autograd.gradcheck(loss, (x,))


def parameter_gradients(model: SpeechRecognizer, x: Tensor, lengths: Tensor) -> dict:
    """name -> dCTC/dparameter, for targets "1 2", "2 3 1" and "3"."""
    model.zero_grad()
    log_probs, steps = model(x, lengths)
    ctc(log_probs, steps, torch.tensor([1, 2, 2, 3, 1, 3]), torch.tensor([2, 3, 1])).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize(("bidirectional", "cell"), [(True, "lstm"), (False, "gru")])
def test_parameter_gradients_match_the_autograd_unroll(
    backend, monkeypatch, bidirectional, cell
):
    model = tiny(hidden=5, layers=2, bidirectional=bidirectional, cell=cell, alphabet=3)
    model = model.double().train()  # train mode: SpecAugment is off, dropout 0
    lengths = torch.tensor([10, 14, 7])
    x = torch.randn(3, 14, 3, dtype=torch.float64)
    engine = parameter_gradients(model, x, lengths)
    # The reference: every layer's cell unrolled under autograd, no hand-written backward.
    unrolled = []

    def unroll(layer, x, state0, lengths):
        unrolled.append(layer.name)
        return autograd_unroll(layer.cell, x, state0, lengths, layer.name)

    monkeypatch.setattr(Recurrent, "_engine", unroll)
    reference = parameter_gradients(model, x, lengths)
    assert len(unrolled) == (4 if bidirectional else 2), "every direction of every layer"
    assert engine.keys() == reference.keys()
    assert any(".cell." in name for name in engine), "the recurrent weights should be compared"
    for name, grad in engine.items():
        assert grad.abs().max() > 0, f"{name} got no gradient"
        assert_close(grad, reference[name], 1e-9, name)


# ----- learning -----------------------------------------------------------------------


def two_label_task(items: int = 12) -> tuple[Tensor, Tensor, list[list[int]]]:
    """Utterances of 1-3 labels from {1, 2}: label k is a bump in channel k - 1 over 5
    frames of its own 10-frame slot, on a little noise. -> (x (N, 32, 2), lengths, labels)."""
    gen = torch.Generator().manual_seed(1)
    x = 0.1 * torch.randn(items, 32, 2, generator=gen)
    lengths, labels = [], []
    for i in range(items):
        row = torch.randint(1, 3, (i % 3 + 1,), generator=gen).tolist()
        for slot, label in enumerate(row):
            x[i, 10 * slot + 3 : 10 * slot + 8, label - 1] += 2.0
        labels.append(row)
        lengths.append(10 * len(row) + 2)
    return x, torch.tensor(lengths), labels


def test_a_tiny_model_learns_a_synthetic_two_label_task():
    x, lengths, labels = two_label_task()
    targets = torch.tensor([k for row in labels for k in row])
    target_lengths = torch.tensor([len(row) for row in labels])
    model = tiny(n_features=2, alphabet=2, hidden=8, cell="gru").train()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for _ in range(150):
        log_probs, steps = model(x, lengths)
        loss = ctc(log_probs, steps, targets, target_lengths) / len(labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    model.eval()
    with torch.no_grad():
        log_probs, steps = model(x, lengths)
    right = sum(greedy(log_probs[i, : steps[i]]) == row for i, row in enumerate(labels))
    assert right >= 0.8 * len(labels), f"{right} of {len(labels)} read right"
