"""Every task of ``rnnkit train``, registered once: the command line builds its ``train``
commands from ``TASKS`` and finds the task of a run directory here, and ``rnnkit.load``
returns that task's predictor. A new task is its own module plus one line below."""

from __future__ import annotations

from pathlib import Path

from rnnkit.tasks.adding import ADDING
from rnnkit.tasks.charlm import CHARLM
from rnnkit.tasks.classify import SENTIMENT, SEQCLASS
from rnnkit.tasks.forecast_commands import FORECAST
from rnnkit.tasks.generator import GENERATOR
from rnnkit.tasks.interface import Predictor, Task
from rnnkit.tasks.run import TASK_FILE, load_run
from rnnkit.tasks.seq2seq_commands import G2P, SEQ2SEQ
from rnnkit.tasks.speech import SPEECH

TASKS: dict[str, Task] = {
    task.name: task
    for task in (ADDING, SENTIMENT, SEQCLASS, CHARLM, GENERATOR, FORECAST, G2P, SEQ2SEQ,
                 SPEECH)
}


def task_of(run: Path, command: str | None = None) -> Task:
    """The task that trained ``run``; with ``command`` (``"predict"``, ...), checked to be
    one that the command takes (``Task.commands``)."""
    run = Path(run)
    name = load_run(run)["task"]
    if name not in TASKS:
        raise ValueError(
            f"{run / TASK_FILE} names a task rnnkit does not know ({name!r}); its tasks are "
            f"{', '.join(TASKS)}"
        )
    task = TASKS[name]
    if command is not None and command not in task.commands:
        takes = [t.name for t in TASKS.values() if command in t.commands]
        raise ValueError(f"{run} holds a {name} model; this command takes {' or '.join(takes)}")
    return task


def load(run_dir: str | Path) -> Predictor:
    """The trained run in ``run_dir`` (a directory ``rnnkit train`` wrote), ready to use::

        model = rnnkit.load("runs/sentiment")
        model.predict("He ate the pie happily")

    Returns the task's predictor: ``ClassifierPredictor`` (sentiment, seqclass),
    ``LanguageModelPredictor`` (charlm), ``GeneratorPredictor`` (generator),
    ``ForecastPredictor`` (forecast), ``TranslatorPredictor`` (g2p, seq2seq) or
    ``SpeechPredictor`` (speech). A missing, damaged or foreign directory is a ValueError
    naming the file at fault.
    """
    run = Path(run_dir)
    return task_of(run).load(run)
