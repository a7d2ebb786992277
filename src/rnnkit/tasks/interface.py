"""What every task of ``rnnkit train`` is: one object per task, registered once in
``rnnkit.tasks.registry``, through which the command line and ``rnnkit.load`` reach it.

A task knows

* its command line: ``add_arguments`` (the options of ``rnnkit train NAME``) and ``train``
  (from those options to a saved run, returning the report to print);
* its runs: ``evaluate`` (a run's scores on its test split or on a file) and ``load``
  (the ``Predictor`` of a run directory, which ``rnnkit.load`` returns).

A predictor holds one trained model, loaded once, with the methods its task has
(``predict``, ``trace``, ``generate``, ``forecast``, ``translate``) and the graphs
``rnnkit export`` writes; the CLI's commands on a run call the same methods.
"""

from __future__ import annotations

import argparse
from pathlib import Path


class Predictor:
    """A trained run, ready to use: ``run`` is its directory, ``task`` its task's name."""

    task: str
    run: Path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, run={str(self.run)!r})"

    def graphs(self) -> list:
        """What ``rnnkit export`` writes: ``rnnkit.tasks.export.Graph``s."""
        raise NotImplementedError


class Task:
    """One task of ``rnnkit train``; its runs carry its ``name`` in their task.json."""

    name: str
    help: str
    description: str = ""
    #: The commands on a trained run that this task answers, of "evaluate", "predict",
    #: "generate", "forecast" and "translate" (the predictor's method of that name).
    commands: tuple[str, ...] = ()
    #: The class of its runs' predictor: ``load(run)`` is ``predictor(run)``.
    #: The field of one step's message in an online session (``rnnkit serve``), or None.
    stream_field: str | None = None
    predictor: type[Predictor] | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError

    def train(self, args: argparse.Namespace) -> str:
        raise NotImplementedError

    def evaluate(self, run: Path, data: str | None) -> str:
        raise ValueError(f"{run} is a {self.name} run, which has no test scores to report")

    def load(self, run: Path) -> Predictor:
        if self.predictor is None:
            raise ValueError(f"{run} is a {self.name} run, which has no predictor")
        return self.predictor(run)
