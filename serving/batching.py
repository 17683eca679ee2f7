"""Server-side batching: concurrent requests to the same signature run as one batch.

Like TensorFlow Serving's shared batch scheduler. Every request ("task") with a batch of `n`
examples joins a queue keyed by what must agree to concatenate them: the servable object, the
signature, the output filter and each input's dtype and shape past the batch dimension. A batch
closes when it holds `max_batch_size` examples or when its oldest task has waited
`batch_timeout_micros`; one of `num_batch_threads` threads concatenates the inputs along axis 0
(padding to the next of `allowed_batch_sizes` by repeating the first example, as TF Serving does),
runs the model once and splits every output back along axis 0 to its task.

    batcher = Batcher(options)                 # options: serving.config.BatchingOptions (or any
                                               # object with the same attributes)
    outputs = batcher.run(key, fn, inputs, deadline=time.monotonic() + 5)
        # key: hashable, e.g. (id(servable), signature, output_filter); fn(dict[str, array [B, ...]], deadline)
        # -> dict[str, array [B, ...]]; inputs: dict[str, array [n, ...]]; returns the task's outputs
        # [n, ...]. Blocks until done; raises what fn raised, or ServingError.
    future = batcher.submit(key, fn, inputs, deadline=None)    # the same, as a concurrent Future
    batcher.stop()                              # runs what is queued, then stops the threads

Errors (TF Serving's codes): a task larger than `max_batch_size` runs on its own (never rejected);
a queue holding `max_enqueued_batches` full batches rejects new tasks with UNAVAILABLE "The batch
scheduling queue to which this task was submitted is full"; a task whose deadline passed while
queued gets DEADLINE_EXCEEDED and is not run; inputs whose leading dimensions differ are
INVALID_ARGUMENT. A batch whose run fails fails each of its tasks with that error; the threads go on.

`batchable(signature)` tells whether a signature can be batched at all: every input and output has
an unknown (-1) leading dimension. Graph signatures (edge_index [2, E]) cannot, so they run unbatched.
"""

from __future__ import annotations

import bisect
import collections
import concurrent.futures
import logging
import os
import threading
import time
from typing import Callable, Hashable

import grpc
import numpy as np

from serving.errors import ServingError

log = logging.getLogger(__name__)

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


def batchable(signature) -> bool:
    """True when every input and output of `signature` has an unknown leading (batch) dimension.

    `signature`: anything with `.inputs` / `.outputs` dicts of specs having `.shape` (a tuple whose
    unknown sizes are None or -1, or None for unknown rank) - serving.servable.Signature or
    serving.client.Signature.
    """
    specs = list(signature.inputs.values()) + list(signature.outputs.values())
    if not signature.inputs:
        return False
    for spec in specs:
        shape = spec.shape
        if shape is None or len(shape) == 0:
            return False
        if shape[0] is not None and shape[0] != -1:
            return False
    return True


def _option(options, name, default):
    value = getattr(options, name, None) if options is not None else None
    if value is None:
        return default
    return getattr(value, "value", value)  # protobuf wrappers (Int64Value)


class _Task:
    __slots__ = ("inputs", "size", "future", "deadline", "enqueued")

    def __init__(self, inputs, size, deadline):
        self.inputs = inputs
        self.size = size
        self.future = concurrent.futures.Future()
        self.deadline = deadline
        self.enqueued = time.monotonic()


class _Queue:
    __slots__ = ("key", "fn", "tasks", "size", "labels")

    def __init__(self, key, fn, labels):
        self.key = key
        self.fn = fn
        self.tasks = collections.deque()
        self.size = 0
        self.labels = labels


def task_size(inputs: dict) -> int:
    """The common leading dimension of a task's inputs; INVALID_ARGUMENT when they disagree."""
    sizes = {name: (np.shape(v)[0] if np.ndim(v) else None) for name, v in inputs.items()}
    distinct = set(sizes.values())
    if None in distinct or len(distinct) != 1:
        raise ServingError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "Batching session Run() input tensors must have equal 0th-dimension size; got "
            + ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items())),
        )
    return distinct.pop()


def shape_key(inputs: dict) -> tuple:
    """What must agree between tasks to concatenate them: each input's dtype and shape past axis 0."""
    return tuple(sorted((name, np.asarray(v).dtype.str, np.shape(v)[1:]) for name, v in inputs.items()))


class Batcher:
    """A shared batch scheduler with `num_batch_threads` threads (see the module docstring).

    Args:
        options: max_batch_size, batch_timeout_micros, num_batch_threads, max_enqueued_batches,
            allowed_batch_sizes (serving.config.BatchingOptions or a BatchingParameters proto).
        on_batch: optional callback(labels, batch_size, queue_seconds) after each batch (metrics).
    """

    def __init__(self, options=None, on_batch: Callable | None = None):
        self.max_batch_size = int(_option(options, "max_batch_size", 1000))
        self.timeout = int(_option(options, "batch_timeout_micros", 0)) / 1e6
        self.num_threads = max(1, int(_option(options, "num_batch_threads", os.cpu_count() or 1)))
        self.max_enqueued_batches = max(1, int(_option(options, "max_enqueued_batches", 10)))
        self.allowed_batch_sizes = sorted(int(s) for s in (_option(options, "allowed_batch_sizes", ()) or ()))
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be positive, got {self.max_batch_size}")
        self.on_batch = on_batch
        self._queues: dict[Hashable, _Queue] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"batch-{i}", daemon=True) for i in range(self.num_threads)
        ]
        for thread in self._threads:
            thread.start()

    # -- submitting ------------------------------------------------------------------------

    def submit(self, key: Hashable, fn: Callable, inputs: dict, deadline: float | None = None,
               labels: tuple = ()) -> concurrent.futures.Future:
        """Queue a task; returns a Future of its outputs (dict of arrays [n, ...]).

        `deadline`: `time.monotonic()` time after which the task is dropped (DEADLINE_EXCEEDED).
        `labels`: passed to `on_batch` (e.g. (model, version, signature)).
        """
        size = task_size(inputs)
        task = _Task(inputs, size, deadline)
        if size > self.max_batch_size or size == 0:
            self._run([task], fn, labels)  # too big to share a batch: run alone, as its own batch
            return task.future
        full_key = (key, shape_key(inputs))
        with self._cond:
            if self._stopping:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "The batch scheduler is shutting down")
            queue = self._queues.get(full_key)
            if queue is None:
                queue = self._queues[full_key] = _Queue(full_key, fn, labels)
            if queue.size + size > self.max_enqueued_batches * self.max_batch_size:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, QUEUE_FULL)
            queue.tasks.append(task)
            queue.size += size
            self._cond.notify()
        return task.future

    def run(self, key: Hashable, fn: Callable, inputs: dict, deadline: float | None = None,
            labels: tuple = ()) -> dict:
        """`submit` and wait for the outputs (raises the task's error)."""
        future = self.submit(key, fn, inputs, deadline, labels)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) + 1.0
        if timeout is not None and timeout >= threading.TIMEOUT_MAX:  # a lock takes no longer timeout
            timeout = None
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded while waiting for a batch") from None

    # -- the scheduler threads ---------------------------------------------------------------

    def _ready(self, queue: _Queue, now: float) -> float:
        """0 when `queue` should run now, else seconds until it should."""
        if queue.size >= self.max_batch_size or self._stopping:
            return 0.0
        return max(0.0, queue.tasks[0].enqueued + self.timeout - now)

    def _take(self):
        """Under the lock: wait for a ready queue and pop one batch of tasks from it."""
        while True:
            now = time.monotonic()
            best, best_wait = None, None
            for queue in self._queues.values():
                if not queue.tasks:
                    continue
                wait = self._ready(queue, now)
                if best_wait is None or wait < best_wait or (wait == best_wait and queue.tasks[0].enqueued < best.tasks[0].enqueued):
                    best, best_wait = queue, wait
            if best is not None and best_wait == 0.0:
                tasks, total = [], 0
                while best.tasks and total + best.tasks[0].size <= self.max_batch_size:
                    task = best.tasks.popleft()
                    total += task.size
                    tasks.append(task)
                best.size -= total
                if not best.tasks:
                    del self._queues[best.key]
                elif best.size >= self.max_batch_size:
                    self._cond.notify()  # another full batch is waiting
                return best, tasks
            if best is None and self._stopping:
                return None, None
            self._cond.wait(timeout=best_wait)

    def _loop(self):
        while True:
            with self._cond:
                queue, tasks = self._take()
            if queue is None:
                return
            self._run(tasks, queue.fn, queue.labels)

    def _run(self, tasks: list, fn: Callable, labels: tuple):
        now = time.monotonic()
        live = []
        for task in tasks:
            if task.future.cancelled():
                continue
            if task.deadline is not None and now >= task.deadline:
                task.future.set_exception(
                    ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded while waiting for a batch")
                )
                continue
            live.append(task)
        if not live:
            return
        total = sum(t.size for t in live)
        padded = total
        if self.allowed_batch_sizes and total <= self.allowed_batch_sizes[-1]:
            padded = self.allowed_batch_sizes[bisect.bisect_left(self.allowed_batch_sizes, total)]
        try:
            if len(live) == 1 and padded == total:
                batch = live[0].inputs
            else:
                batch = {}
                for name in live[0].inputs:
                    parts = [np.asarray(t.inputs[name]) for t in live]
                    if padded > total:  # TF Serving pads with copies of the first example
                        parts.append(np.repeat(parts[0][:1], padded - total, axis=0))
                    batch[name] = np.concatenate(parts, axis=0)
            if self.on_batch is not None:
                try:
                    self.on_batch(labels, padded, now - min(t.enqueued for t in live))
                except Exception:  # noqa: BLE001 - metrics never fail a batch
                    log.exception("batch metrics callback failed")
            # the batch runs until its last task's deadline (None when one of them has none)
            deadlines = [t.deadline for t in live]
            outputs = fn(batch, None if None in deadlines else max(deadlines))
            offset = 0
            results = [{} for _ in live]
            for name, value in outputs.items():
                value = np.asarray(value)
                if value.ndim == 0 or value.shape[0] != padded:
                    raise ServingError(
                        grpc.StatusCode.INTERNAL,
                        f"Batched output {name!r} has shape {value.shape}; expected leading dimension {padded}",
                    )
            for i, task in enumerate(live):
                for name, value in outputs.items():
                    results[i][name] = np.asarray(value)[offset : offset + task.size]
                offset += task.size
            for task, result in zip(live, results):
                if not task.future.done():
                    task.future.set_result(result)
        except BaseException as exc:  # noqa: BLE001 - every task learns what went wrong
            for task in live:
                if not task.future.done():
                    task.future.set_exception(exc)

    def stop(self, timeout: float | None = 10.0):
        """Run the tasks already queued, then stop the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
