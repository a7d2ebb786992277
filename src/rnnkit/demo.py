"""rnnkit's demo on real data, in about two minutes on a laptop CPU:

    python -m rnnkit.demo                 # make demo

1. A character-level LSTM language model on Shakespeare's plays (many-to-many, truncated
   BPTT) for a short time budget: its bits per character on plays it has never seen, and
   a sample primed with "ROMEO:".
2. A sentiment classifier on rated review sentences, tweets and editorial snippets
   (many-to-one, the ``hutto`` data set): its test accuracy, and the walk-through -- the
   prediction after every word -- for "He ate the pie happily" and "He ate the pie
   angrily".

The trained models stay in --out (runs/demo): ``rnnkit generate runs/demo/charlm`` and
``rnnkit predict runs/demo/sentiment "..." --trace`` use them again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rnnkit
from rnnkit.arguments import duration
from rnnkit.tasks.charlm import LanguageModelConfig, train_language_model
from rnnkit.tasks.classify import ClassifierConfig, train_classifier

SENTENCES = ("He ate the pie happily", "He ate the pie angrily")


def sentiment_config(budget: float, hidden: int) -> ClassifierConfig:
    """The demo's classifier: six epochs of a bidirectional LSTM, max-pooled, over fixed
    pretrained word vectors, at most ``2 * budget`` seconds."""
    # Fixed pretrained word vectors: "angrily" never occurs in the training sentences, yet
    # it is read with the vector all-MiniLM-L6-v2 gives it, not as an unknown word. Movie
    # reviews alone read "He ate the pie" as very negative (P = 0.02, one review "ate" in
    # 10,566); with tweets and product reviews, and label smoothing keeping plain words
    # near 0.5, the last word decides (benchmarks/results/sentiment.md).
    return ClassifierConfig(
        "sentiment", "hutto", hidden=hidden, bidirectional=True, pooling="max", dropout=0.5,
        epochs=6, patience=3, time_budget=2 * budget, pretrained="minilm",
        freeze_embeddings=True, label_smoothing=0.2,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=duration, default=60.0,
                        help="the language model's training time, and half the sentiment "
                        "model's at most (default 60s)")  # fmt: skip
    parser.add_argument("--hidden", type=int, default=256, help="hidden size (default 256)")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)

    print(f"1. Character language model on Shakespeare, {args.budget:.0f} s of training")
    lm = LanguageModelConfig(
        hidden=args.hidden, layers=2, time_budget=args.budget, validate_chars=20_000
    )
    print(train_language_model(lm, args.out / "charlm", False, True, quiet=True))
    print("\nSample, primed with 'ROMEO:':\n")
    print(rnnkit.load(args.out / "charlm").generate("ROMEO:", 300, temperature=0.8, seed=0))

    print(f"\n2. Sentiment of everyday sentences, 6 epochs (at most {2 * args.budget:.0f} s)")
    classifier = sentiment_config(args.budget, args.hidden // 2)
    print(train_classifier(classifier, args.out / "sentiment", False, True, quiet=True))
    sentiment = rnnkit.load(args.out / "sentiment")
    for sentence in SENTENCES:
        trace = sentiment.trace(sentence)
        print(f"\n{sentence!r}: P({trace.classes[1]}) after each word")
        for word, row in zip(trace.steps, trace.probabilities, strict=True):
            p = float(row[1])
            print(f"  {word:<10} {p:5.2f}  {'#' * round(p * 40)}")


if __name__ == "__main__":
    main()
