"""Checkpoints of a `zoo.fit` run: written at each epoch end (and every N steps), resumed from the
newest one that restores.

Files, as `tf.train.CheckpointManager` writes them in `checkpoint_dir` (the three newest kept):
`ckpt-<global step>.index` and `ckpt-<global step>.data-00000-of-00001` per checkpoint, and the
state file `checkpoint` naming them. Every worker of a multi-worker job saves (saving is a
collective operation); the chief into `checkpoint_dir`, the others into
`checkpoint_dir/.worker_<type>_<index>/`.

Resuming reads the checkpoint files themselves, newest step first, and restores the first one that
restores: a truncated `.index` or `.data-*` file, a flipped byte (checksum), a missing file or an
unreadable, empty or half-written state file costs at most the progress since the previous
checkpoint, and is reported in one warning line naming what was bad. When checkpoints exist and
none restores, `CheckpointError` says so: a run never silently starts again from step 0. In a
multi-worker job the workers agree on one step (the newest every worker restores) before training.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from zoo.errors import CheckpointError
from zoo.training.strategies import is_chief

log = logging.getLogger("zoo.training")

PREFIX = "ckpt"
STATE_FILE = "checkpoint"
MAX_TO_KEEP = 3
_FILE = re.compile(rf"^{PREFIX}-(\d+)\.(index|data-\d+-of-\d+)$")
_NOTHING, _NONE_RESTORES = -1, -2  # what a worker tells the others besides a step number


class TrainingState(tf.Module):
    """Counters saved in checkpoints: global step, epoch, batches done in the current epoch."""

    def __init__(self):
        super().__init__()
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch_in_epoch")


@dataclass
class _Restore:
    """What one worker found: the checkpoint it restored (None: none), the ones that failed."""

    step: int | None = None
    failures: list = field(default_factory=list)  # [(prefix, reason)], newest first
    state_problem: str | None = None  # what is wrong with the state file, if anything
    exists: bool = False  # checkpoint files or a state file are there
    note: str | None = None  # why this worker went further back than its own newest


class Checkpoints:
    """Save and restore `objects` (model, optimizers) and a `TrainingState` under `directory`.

    `optional` parts ({name: {part: variable or list of variables}}, e.g. the recipe's state:
    `BudgetState.parts()`) are saved too, and restored from what the checkpoint holds of them: a
    checkpoint written before they existed, or with fewer of their parts, still restores (the rest
    keep their values). The other objects must all be in the checkpoint. With `directory=None`
    nothing is written, and `save` only records the position in `state`.
    """

    def __init__(self, directory, strategy: tf.distribute.Strategy, *, state: TrainingState, optional=None,
                 **objects):
        self.state, self.strategy, self.directory = state, strategy, None
        self.optional = dict(optional or {})
        self._manager = None
        if directory is None:
            return
        directory = os.fspath(directory)
        if not is_chief(strategy):  # every worker saves (a collective op); only the chief keeps its files
            resolver = strategy.cluster_resolver
            directory = os.path.join(directory, f".worker_{resolver.task_type}_{resolver.task_id}")
        self.directory = directory
        self._objects = dict(state=state, **objects)
        self.checkpoint = self._with_optional(lambda name, part: True)  # what is saved
        # one restoring checkpoint per set of optional parts, kept: deleting one after a failed restore
        # would warn about its unrestored values (the next one of the same set completes it)
        self._restoring = {}

    @property
    def manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            steps = _on_disk(self.directory)
            if _state_problem(self.directory, steps) is not None:  # TensorFlow would ignore it, or raise
                _write_state(self.directory, sorted(steps))
            with _quiet_tensorflow_logger():
                self._manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=MAX_TO_KEEP)
        return self._manager

    def save(self, *, step: int, epoch: int, batch_in_epoch: int) -> None:
        """Record the position (global step, epoch, batches done in it), then checkpoint if asked to."""
        self.state.step.assign(step)
        self.state.epoch.assign(epoch)
        self.state.batch_in_epoch.assign(batch_in_epoch)
        if self.directory is not None:
            self.manager.save(checkpoint_number=step)

    def restore_latest(self, verbose: int = 0) -> None:
        """Restore the newest checkpoint that restores (agreed between workers); nothing when there is none.

        Raises:
            CheckpointError: checkpoints exist, and none of them restores (on every worker).
        """
        if self.directory is None:
            return
        found = self._restore_newest()
        if _several_workers(self.strategy):
            found = self._agree(found)
        if found.step is None:
            if found.exists:
                raise CheckpointError(_none_restores(self.directory, found))
            return
        prefix = self._prefix(found.step)
        problems = [f"{p} does not restore ({reason})" for p, reason in found.failures]
        if found.state_problem:
            problems.append(f"the state file {os.path.join(self.directory, STATE_FILE)} is {found.state_problem}")
        if found.note:
            problems.append(found.note)
        if problems:
            _write_state(self.directory, [s for s in sorted(_on_disk(self.directory)) if s <= found.step])
            log.warning("zoo.fit: %s; resuming from %s, the newest checkpoint that restores",
                        "; ".join(problems), prefix)
        message = (f"resumed from {prefix}: step {int(self.state.step.numpy())}, "
                   f"epoch {int(self.state.epoch.numpy()) + 1}, batch {int(self.state.batch_in_epoch.numpy())}")
        log.info(message)
        if verbose:
            print(message, flush=True)

    def _prefix(self, step: int) -> str:
        return os.path.join(self.directory, f"{PREFIX}-{step}")

    def _restore_newest(self) -> _Restore:
        """Try this worker's checkpoints, newest first, until one restores."""
        steps = sorted(_on_disk(self.directory), reverse=True)
        found = _Restore(state_problem=_state_problem(self.directory, steps),
                         exists=bool(steps) or os.path.exists(os.path.join(self.directory, STATE_FILE)))
        for step in steps:
            reason = self._try(step)
            if reason is None:
                found.step = step
                return found
            found.failures.append((self._prefix(step), reason))
        return found

    def _with_optional(self, keep) -> tf.train.Checkpoint:
        """The checkpoint of the objects and of the optional parts `keep(name, part)` says."""
        optional = {name: tf.train.Checkpoint(**{part: v for part, v in parts.items() if keep(name, part)})
                    for name, parts in self.optional.items()}
        return tf.train.Checkpoint(**self._objects, **optional)

    def _try(self, step: int) -> str | None:
        """Restore checkpoint `step`; None when it did, else why not (one line)."""
        prefix = self._prefix(step)
        try:
            names = {name for name, _ in tf.train.list_variables(prefix)}
            present = frozenset((name, part) for name, parts in self.optional.items() for part in parts
                                if any(n.startswith(f"{name}/{part}/") for n in names))
            if present not in self._restoring:
                self._restoring[present] = self._with_optional(lambda name, part: (name, part) in present)
            self._restoring[present].restore(prefix).assert_existing_objects_matched()
        except Exception as error:  # any unreadable file: TensorFlow, protobuf or plain Python errors
            return _one_line(error)
        return None

    def _agree(self, found: _Restore) -> _Restore:
        """Make every worker of a multi-worker job resume from the same step: the newest one that
        all of them restore (each worker has its own files; each calls this, collectively)."""
        local = len(self.strategy.extended.worker_devices)
        code = found.step if found.step is not None else (_NONE_RESTORES if found.exists else _NOTHING)
        codes = _gather(self.strategy, code)[::local]  # one value per worker, worker 0 first
        if all(c == _NOTHING for c in codes):
            return found
        if any(c < 0 for c in codes):
            worker_states = ", ".join(
                f"worker {i}: " + ({_NOTHING: "no checkpoint", _NONE_RESTORES: "none restores"}.get(c) or f"step {c}")
                for i, c in enumerate(codes))
            raise CheckpointError(f"the workers cannot resume from one step ({worker_states}). "
                                  + (_none_restores(self.directory, found) if found.step is None else ""))
        target = min(codes)
        ok = True
        if found.step != target:
            reason = self._try(target)
            ok = reason is None
            found.note = (f"another worker restores nothing newer than step {target}" if ok
                          else f"{self._prefix(target)}, the newest step every worker has, does not restore here ({reason})")
        if min(_gather(self.strategy, int(ok))) == 0:
            raise CheckpointError(f"the workers have no checkpoint step in common that restores on all of them "
                                  f"(newest on each: {codes}); this worker: {found.note or 'restores step ' + str(target)}")
        found.step = target
        return found


def _several_workers(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans several processes (replicas beyond this process's own devices)."""
    replicas = strategy.num_replicas_in_sync
    return replicas > 1 and replicas > len(strategy.extended.worker_devices)


def _on_disk(directory: str) -> set[int]:
    """Steps of the checkpoints with at least one file in `directory` (complete or not)."""
    if not os.path.isdir(directory):
        return set()
    return {int(m.group(1)) for m in map(_FILE.match, os.listdir(directory)) if m}


def _state_problem(directory: str, steps) -> str | None:
    """What is wrong with the state file beside the checkpoints `steps`, or None. A missing state
    file is wrong only when checkpoints are there (TensorFlow writes it after every checkpoint)."""
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return "missing" if steps else None
    if not path.read_bytes().strip():
        return "empty"
    with _quiet_tensorflow_logger():
        try:
            state = tf.train.get_checkpoint_state(directory)
        except ValueError:  # parsed, but names no checkpoint
            state = None
    if state is None:
        return "unreadable (not a checkpoint state; half-written?)"
    latest = os.path.basename(state.model_checkpoint_path)
    match = re.fullmatch(rf"{PREFIX}-(\d+)", latest)
    if match is None or int(match.group(1)) not in steps:
        return f"naming {latest!r}, which is not in the folder"
    return None


def _write_state(directory: str, steps: list[int]) -> None:
    """Rewrite the state file to name `steps` (oldest first), as CheckpointManager would have."""
    path = os.path.join(directory, STATE_FILE)
    if not steps:
        if os.path.exists(path):
            os.remove(path)
        return
    names = [f"{PREFIX}-{s}" for s in steps[-MAX_TO_KEEP:]]
    times = [max(os.path.getmtime(os.path.join(directory, f)) for f in os.listdir(directory) if f.startswith(f"{n}."))
             for n in names]
    # The CheckpointState text proto, with the fields CheckpointManager reads: relative paths as it
    # writes them, and timestamps (without them it would never delete these checkpoints).
    text = "".join([f'model_checkpoint_path: "{names[-1]}"\n']
                   + [f'all_model_checkpoint_paths: "{n}"\n' for n in names]
                   + [f"all_model_checkpoint_timestamps: {t!r}\n" for t in times])
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # never half-written


def _gather(strategy: tf.distribute.Strategy, value: int) -> list[int]:
    """`value` from every replica of `strategy` (a collective: every worker must call it), in replica
    order: each replica puts it at its own position of a zero vector, and the vectors are summed."""

    def replica():
        context = tf.distribute.get_replica_context()
        mine = tf.one_hot(context.replica_id_in_sync_group, context.num_replicas_in_sync, dtype=tf.float64) * value
        return context.all_reduce(tf.distribute.ReduceOp.SUM, mine)

    result = tf.function(lambda: strategy.run(replica))()
    return [int(round(v)) for v in strategy.experimental_local_results(result)[0].numpy()]


def _none_restores(directory: str, found: _Restore) -> str:
    details = "; ".join(f"{os.path.basename(p)} ({reason})" for p, reason in found.failures) or "no checkpoint files"
    state = f"; the state file is {found.state_problem}" if found.state_problem else ""
    return (f"checkpoint_dir {directory!r} holds checkpoints, and none of them restores: {details}{state}. "
            "Nothing was trained. To start again from step 0, move them out of the folder or use another "
            "checkpoint_dir (or pass resume=False)")


def _one_line(error: Exception) -> str:
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(error)).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first[:200]}"


@contextlib.contextmanager
def _quiet_tensorflow_logger():
    """TensorFlow logs its own warnings about a bad state file; zoo.fit reports it in one line."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
