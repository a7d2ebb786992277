"""A trained model's directory: what task it is for, its resolved settings, its tokenizer
and its weights, each written atomically and read without unpickling anything.

    run/task.json            {"task": ..., "config": {...}, "extra": {...}}
    run/settings.json        what the run trains, written as it starts (see begin_training)
    run/tokenizer.json       (tasks on text)
    run/model.safetensors    the weights (safetensors: tensors only, no code)
    run/metrics.jsonl, run/ckpt-*.pt   the trainer's log and checkpoints

In a data-parallel run (``rnnkit.train.world``) rank 0 alone writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from rnnkit.data import Tokenizer
from rnnkit.train import world
from rnnkit.train.files import write_atomic

TASK_FILE, TOKENIZER_FILE, WEIGHTS_FILE = "task.json", "tokenizer.json", "model.safetensors"
SETTINGS_FILE = "settings.json"
#: What a resumed run may change: how long it trains, not what it trains.
RESUMABLE = ("epochs", "time_budget", "patience")


def prepare_run(path: Path, task: str, resume: bool, overwrite: bool) -> None:
    """``check_run``, then empty ``path`` with ``overwrite``. Tasks read their data between
    the two, so that bad data leaves an existing run as it was."""
    check_run(path, task, resume, overwrite)
    if overwrite and path.is_dir() and world.current().is_main:
        shutil.rmtree(path)
    world.current().barrier()


def check_run(path: Path, task: str, resume: bool, overwrite: bool) -> None:
    """Check that ``path`` may receive a run of ``task``: new, or an existing run of the
    same task with ``resume``, or anything with ``overwrite``. Changes nothing."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue or replace")
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        if resume:
            raise ValueError(f"--resume: {path} holds no run to continue")
        return
    if not path.is_dir():
        raise ValueError(f"--out {path} is a file, not a directory")
    if overwrite:
        return
    existing = _read_task(path) if (path / TASK_FILE).exists() else None
    if not resume:
        what = f"a {existing['task']} run" if existing else "files"
        raise ValueError(
            f"--out {path} already holds {what}: "
            "pass --resume to continue it or --overwrite to replace it"
        )
    if existing and existing["task"] != task:
        raise ValueError(f"--resume: {path} holds a {existing['task']} run, not {task}")


def begin_training(
    path: Path, task: str, config: dict[str, Any], made: dict[str, Any], resume: bool
) -> None:
    """Record what a new run trains in settings.json: its ``config`` and what its data
    ``made`` (the tokens, the classes). With ``--resume``, what is given now must be what
    the run was started with, but for ``RESUMABLE`` settings: otherwise a ValueError
    names each difference, before anything is read from or written to the run."""
    current = json.loads(json.dumps({"task": task, "config": config, "made": made}))
    file = path / SETTINGS_FILE
    if resume and (file.exists() or (path / TASK_FILE).exists()):
        started = _read_json(file) if file.exists() else {**_read_task(path), "made": {}}
        differences = _differences(started, current)
        if differences:
            raise ValueError(
                f"--resume: {path} was started with other settings: {'; '.join(differences)}. "
                "Resume with the run's settings, or start a new run (another --out, or "
                "--overwrite)"
            )
        return
    if world.current().is_main:
        path.mkdir(parents=True, exist_ok=True)
        _write_json(file, current)


def _differences(started: dict[str, Any], current: dict[str, Any]) -> list[str]:
    config, given = started.get("config", {}), current["config"]
    found = [
        f"--{key.replace('_', '-')} {_shown(config.get(key))} (given {_shown(given.get(key))})"
        for key in sorted(set(config) | set(given))
        if key not in RESUMABLE and config.get(key) != given.get(key)
    ]
    for key, before in started.get("made", {}).items():
        now = current["made"].get(key)
        if before != now:
            new = [v for v in now or [] if v not in before] if isinstance(before, list) else []
            gone = [v for v in before if v not in (now or [])] if isinstance(before, list) else []
            detail = ", ".join([*(f"new {v!r}" for v in new[:5]), *(f"no {v!r}" for v in gone[:5])])
            found.append(f"the data gives other {key} ({detail or 'in another order'})")
    return found


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) or value is None else str(value)


def save_run(
    path: Path,
    task: str,
    config: dict[str, Any],
    model: torch.nn.Module,
    tokenizer: Tokenizer | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the run. In a data-parallel run rank 0 writes it, and the group ends here:
    what follows (scoring the saved run, the report) is rank 0's alone, as one process,
    and the other ranks exit (their files may be on another machine)."""
    group = world.current()
    if group.is_main:
        _save_run(path, task, config, model, tokenizer, extra)
    if group.size > 1:
        world.leave()
        if not group.is_main:
            raise SystemExit(0)


def _save_run(path, task, config, model, tokenizer, extra) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        _write_json(path / TOKENIZER_FILE, tokenizer.to_dict())
    tensors, seen = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:  # tied weights are stored once
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.detach().contiguous().cpu()
    payload = safetensors.torch.save(tensors)
    write_atomic(path / WEIGHTS_FILE, lambda f: f.write(payload))
    # Written last: a directory with task.json holds a whole model.
    _write_json(path / TASK_FILE, {"task": task, "config": config, "extra": extra or {}})


def load_run(path: Path, tasks: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The run's task.json (checked to be one of ``tasks``, if given) plus its tokenizer,
    if any."""
    if not path.is_dir():
        raise ValueError(f"model directory {path} does not exist")
    if not (path / TASK_FILE).exists():
        raise ValueError(f"{path} holds no trained model ({TASK_FILE} is missing)")
    run = _read_task(path)
    if tasks is not None and run["task"] not in tasks:
        raise ValueError(
            f"{path} holds a {run['task']} model; this command takes {' or '.join(tasks)}"
        )
    tokenizer = path / TOKENIZER_FILE
    run["tokenizer"] = (
        Tokenizer.from_dict(json.loads(tokenizer.read_text())) if tokenizer.exists() else None
    )
    return run


def load_weights(path: Path, model: torch.nn.Module) -> torch.nn.Module:
    file = path / WEIGHTS_FILE
    if not file.is_file():
        raise ValueError(f"{file} is missing: the run holds no trained weights")
    try:
        tensors = safetensors.torch.load(file.read_bytes())
    except Exception as error:  # noqa: BLE001 - any damage: say which file, in one line
        raise ValueError(f"{file} is damaged: not a safetensors file ({error})") from None
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    absent = sorted(n for n in missing if not _is_tied(model, n))
    if unexpected or absent:
        raise ValueError(
            f"{path / WEIGHTS_FILE} does not fit the model: missing {absent}, "
            f"unexpected {sorted(unexpected)}"
        )
    return model.eval()


def _is_tied(model: torch.nn.Module, name: str) -> bool:
    target = model.state_dict()[name].data_ptr()
    return sum(t.data_ptr() == target for t in model.state_dict().values()) > 1


def _read_task(path: Path) -> dict[str, Any]:
    try:
        run = json.loads((path / TASK_FILE).read_text())
        run["task"], run["config"]  # noqa: B018 - both must be there
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path / TASK_FILE} is damaged: not a task file rnnkit wrote") from None
    return run


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise ValueError(f"{path} is damaged: not a file rnnkit wrote") from None


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1).encode()
    write_atomic(path, lambda f: f.write(text))
