"""The smallest character model: an LSTM learns to continue "hello world".

    python -m rnnkit.demo

Each character is a one-hot vector; the network reads "hello world" one character at a
time and learns to predict the next one (many-to-many). Training is explicit
backpropagation through time on rnnkit's engine. Then, primed with "h", it writes the
rest greedily, feeding each prediction back in through the streaming state.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import rnnkit.nn

TEXT = "hello world"


class CharModel(nn.Module):
    """one-hot (T, B, V) -> LSTM -> logits (T, B, V)"""

    def __init__(self, vocab_size: int, hidden_size: int) -> None:
        super().__init__()
        self.lstm = rnnkit.nn.LSTM(vocab_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        y, state = self.lstm(x, state)
        return self.head(y), state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", default=TEXT, help="what to learn (default: %(default)r)")
    parser.add_argument(
        "--steps", type=int, default=300, help="training steps (default: %(default)s)"
    )
    parser.add_argument(
        "--hidden", type=int, default=32, help="LSTM hidden size (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if len(args.text) < 2:
        parser.error(f"--text must have at least 2 characters, got {args.text!r}")

    torch.manual_seed(0)
    vocab = sorted(set(args.text))
    index = torch.tensor([vocab.index(c) for c in args.text])
    one_hot = torch.eye(len(vocab))
    inputs, targets = one_hot[index[:-1]].unsqueeze(1), index[1:]  # (T, 1, V), (T,)

    model = CharModel(len(vocab), args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        logits, _ = model(inputs)
        loss = nn.functional.cross_entropy(logits.squeeze(1), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")

    with torch.no_grad():
        text, state = args.text[0], None
        for _ in range(len(args.text) - 1):
            logits, state = model(one_hot[vocab.index(text[-1])].view(1, 1, -1), state)
            text += vocab[int(logits[-1, 0].argmax())]
    print(f"prime {args.text[0]!r} -> {text!r}")


if __name__ == "__main__":
    main()
