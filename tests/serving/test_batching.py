"""serving.batching: concurrent tasks merged into batches and split back, errors per task."""

import threading
import time
from types import SimpleNamespace

import grpc
import numpy as np
import pytest

from serving.batching import QUEUE_FULL, Batcher, batchable, task_size
from serving.errors import ServingError


def options(**kw):
    base = dict(max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1, max_enqueued_batches=10,
                allowed_batch_sizes=[])
    base.update(kw)
    return SimpleNamespace(**base)


class Model:
    """Records the batch sizes it ran; output = 2 * x, plus the row sums."""

    def __init__(self, delay=0.0):
        self.sizes, self.delay = [], delay
        self.lock = threading.Lock()

    def __call__(self, batch, deadline=None):
        with self.lock:
            self.sizes.append(len(batch["x"]))
        time.sleep(self.delay)
        return {"y": batch["x"] * 2, "s": batch["x"].sum(axis=1)}


def run_concurrently(batcher, model, arrays, key="k"):
    results = [None] * len(arrays)
    barrier = threading.Barrier(len(arrays))

    def work(i):
        barrier.wait()
        results[i] = batcher.run(key, model, {"x": arrays[i]})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arrays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_tasks_share_a_batch_and_get_their_own_rows():
    batcher = Batcher(options())
    model = Model()
    arrays = [np.full((n, 3), i, np.float32) for i, n in enumerate([1, 2, 1, 3])]
    results = run_concurrently(batcher, model, arrays)
    for array, result in zip(arrays, results):
        np.testing.assert_array_equal(result["y"], array * 2)
        np.testing.assert_array_equal(result["s"], array.sum(axis=1))
    assert sum(model.sizes) == 7 and max(model.sizes) > 1  # merged
    batcher.stop()


def test_batches_never_exceed_max_batch_size():
    batcher = Batcher(options(max_batch_size=4, batch_timeout_micros=100_000))
    model = Model()
    arrays = [np.ones((1, 2), np.float32) * i for i in range(10)]
    results = run_concurrently(batcher, model, arrays)
    assert max(model.sizes) <= 4 and sum(model.sizes) == 10
    assert [float(r["y"][0, 0]) for r in results] == [2.0 * i for i in range(10)]
    batcher.stop()


def test_a_task_larger_than_max_batch_size_runs_alone():
    batcher = Batcher(options(max_batch_size=2))
    model = Model()
    out = batcher.run("k", model, {"x": np.ones((5, 2), np.float32)})
    assert out["y"].shape == (5, 2) and model.sizes == [5]
    batcher.stop()


def test_different_shapes_and_keys_are_not_mixed():
    batcher = Batcher(options())
    model = Model()
    arrays = [np.ones((1, 3), np.float32), np.ones((1, 4), np.float32), np.ones((1, 3), np.float64)]
    results = run_concurrently(batcher, model, arrays)
    assert [r["y"].shape for r in results] == [(1, 3), (1, 4), (1, 3)]
    assert results[2]["y"].dtype == np.float64
    assert sorted(model.sizes) == [1, 1, 1]
    batcher.stop()


def test_allowed_batch_sizes_pad_with_the_first_example():
    batcher = Batcher(options(max_batch_size=4, allowed_batch_sizes=[2, 4]))
    model = Model()
    out = batcher.run("k", model, {"x": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)})
    assert model.sizes == [4]
    np.testing.assert_array_equal(out["y"], [[2, 4], [6, 8], [10, 12]])
    batcher.stop()


def test_timeout_closes_a_partial_batch():
    batcher = Batcher(options(max_batch_size=100, batch_timeout_micros=20_000))
    model = Model()
    batcher.run("k", model, {"x": np.ones((1, 2), np.float32)})  # returns: the batch never fills
    assert model.sizes == [1]
    batcher.stop()


def test_model_error_fails_every_task_of_the_batch_and_the_batcher_goes_on():
    batcher = Batcher(options())

    def broken(batch, deadline=None):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "bad input")

    with pytest.raises(ServingError) as info:
        batcher.run("k", broken, {"x": np.ones((1, 2), np.float32)})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert batcher.run("k", Model(), {"x": np.ones((1, 2), np.float32)})["y"].shape == (1, 2)
    batcher.stop()


def test_full_queue_is_unavailable():
    batcher = Batcher(options(max_batch_size=1, max_enqueued_batches=1, batch_timeout_micros=0))
    gate, busy = threading.Event(), threading.Event()

    def slow(batch, deadline=None):
        busy.set()
        gate.wait(30)
        return {"y": batch["x"]}

    first = batcher.submit("k", slow, {"x": np.ones((1, 1))})
    assert busy.wait(30)  # the one thread is now busy with `first`
    second = batcher.submit("k", slow, {"x": np.ones((1, 1))})  # queued: one batch
    with pytest.raises(ServingError) as info:
        batcher.submit("k", slow, {"x": np.ones((1, 1))})
    assert info.value.code == grpc.StatusCode.UNAVAILABLE and info.value.message == QUEUE_FULL
    gate.set()
    assert first.result(30)["y"].shape == (1, 1) and second.result(30)["y"].shape == (1, 1)
    batcher.stop()


def test_a_batch_runs_until_the_last_deadline_of_its_tasks():
    batcher = Batcher(options(max_batch_size=2, batch_timeout_micros=10_000_000))
    seen = []

    def model(batch, deadline=None):
        seen.append(deadline)
        return {"y": batch["x"]}

    later = time.monotonic() + 600
    first = batcher.submit("k", model, {"x": np.ones((1, 1))}, deadline=later - 100)
    second = batcher.submit("k", model, {"x": np.ones((1, 1))}, deadline=later)
    assert first.result(30)["y"].shape == second.result(30)["y"].shape == (1, 1)
    assert seen == [later]
    batcher.run("k", model, {"x": np.ones((2, 1))})  # a full batch with no deadline runs with none
    assert seen == [later, None]
    batcher.stop()


def test_expired_deadline_is_not_run():
    batcher = Batcher(options(batch_timeout_micros=100_000))
    model = Model()
    with pytest.raises(ServingError) as info:
        batcher.run("k", model, {"x": np.ones((1, 2))}, deadline=time.monotonic() + 0.01)
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert model.sizes == []
    batcher.stop()


def test_mismatched_leading_dimensions_are_invalid():
    with pytest.raises(ServingError) as info:
        task_size({"a": np.ones((2, 3)), "b": np.ones((3,))})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "a: 2" in info.value.message


def test_stop_runs_what_is_queued():
    batcher = Batcher(options(batch_timeout_micros=5_000_000))
    model = Model()
    future = batcher.submit("k", model, {"x": np.ones((1, 2))})
    batcher.stop()
    assert future.result(5)["y"].shape == (1, 2)


def test_batchable_needs_unknown_leading_dimensions():
    spec = lambda *shape: SimpleNamespace(shape=shape)  # noqa: E731
    image = SimpleNamespace(inputs={"x": spec(None, 8, 8, 1)}, outputs={"scores": spec(-1, 10)})
    graph = SimpleNamespace(inputs={"node_features": spec(None, 4), "edge_index": spec(2, None)},
                            outputs={"scores": spec(None, 3)})
    assert batchable(image) and not batchable(graph)
