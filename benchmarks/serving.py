"""Serving benchmark: the server against the in-process limit and against gRPC's own floor, one run.

    python benchmarks/serving.py                       # lenet5 (32x32x1) and resnet18 (64x64x3), 1/8/64 callers
    python benchmarks/serving.py --seconds 5 --concurrency 1 64 --models lenet5

For each model (exported with zoo.export, random weights: speed does not depend on them) and each
concurrency (callers each sending one example at a time), in one invocation on one machine:

- `in-process tf2`: the loaded SavedModel's `serving_default` (tf.saved_model.load) called from that
  many threads: no network, no serialization. The issue's "limit".
- `in-process servable`: `serving.servable` running the same signature as the server does (a
  Session callable of the loaded graph, with the server's input checks), from that many threads.
- `grpc floor`: a minimal grpcio server (this file, `--floor-server`) that answers every Predict with
  the model's real response, serialized once: what gRPC in Python costs with no work at all.
- `grpc`: `python -m serving` without and with server-side batching (max_batch_size 64,
  batch_timeout_micros 1000, num_batch_threads 2).

The client is cheap so that the server is what is measured: pre-serialized PredictRequest bytes
over one grpc.aio channel without stub (de)serialization, the callers as coroutines of one event loop.
Printed per row: p50 / p99 latency, requests/s, **CPU milliseconds per request of the serving
process** (utime + stime from /proc over the measured window; for the in-process rows the
benchmark process itself), and ratios against `in-process tf2` at the same concurrency. The
machine's load average is printed before and after: on a shared machine, CPU per request is the
least noise-sensitive figure.

Where a lenet5 request's server CPU goes (2026-12-04, 2 cores of an Intel Xeon, Eigen kernels; issue 15):

| piece | CPU per request | how it was measured |
| --- | --- | --- |
| the whole server, unbatched, 1 caller | 0.88-0.94 ms | /proc, this benchmark |
| gRPC's do-nothing floor (sync or grpc.aio alike) | 0.18-0.30 ms | `grpc floor` rows; a grpc.aio twin measured 0.19-0.35 |
| the Session run of one example | 0.11 ms | in-process, caller thread (0.23 ms before) |
| everything of ours: parse, decode, acquire, validate, run, encode, metrics | 0.20 ms with the run | in-process loop over `PredictionServicer.Predict` + SerializeToString; cProfile |
| the rest: thread wake-ups and gRPC's Python layer | about 0.45 ms | perf: 49 % of the server's samples in the kernel, 27.5 % `finish_task_switch`, 22 % futex waits; 20-29 context switches per request against the floor's 12 |

Batching does not pay for lenet5 because the batches stay small: with 64 callers the mean batch was
5.2 examples (batch_timeout 1 ms), as the GIL-bound per-request path delivers about 2,000
requests/s to the batcher; py-spy `--gil` of the batched server at 64 callers: gRPC's sync Python
layer (`_server.py`: `_serve`, `_handle_call`, `_unary_request`) about 45 % of the GIL-holding
samples, the batch thread 42 % (of which the Session call 7 %, waking the callers' futures 11 %),
`ModelServer.predict` 7 %. A grpc.aio prototype (one event-loop thread, the batcher's futures awaited
with `asyncio.wrap_future`) reached 1,830-1,930 requests/s at 64 callers against 1,320-1,600 for the
sync server, 0.64-0.68 ms CPU per request against 0.74-0.88, and no gain unbatched at 1 caller
(p50 1.22 ms). For the kernels: oneDNN makes a 64-example lenet5 batch 2.5x cheaper (5.4 -> 2.1 ms
CPU) but one example 3.6x dearer (0.11 -> 0.41 ms), and resnet18 batches dearer (176 -> 218 ms), so
the server keeps Eigen.

MLServer is not measured here: its gRPC speaks the KServe v2 protocol, not TF Serving's, so it
needs requests of its own and a runtime wrapping the SavedModel (the issue's figures, 1.4-1.9x its
requests/s, came from such a side venv: `pip install mlserver` there, not a dependency of zoo).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the in-process rows run the server's kernels and allocator (serving.cli), not the training settings
# `import zoo` would choose (zoo._tf_settings): oneDNN made one-example calls slower here (lenet5 in-process
# p50 0.58 -> 1.71 ms, server CPU per unbatched request 2.0 -> 2.6 ms; batched at 64 callers 1.9 -> 1.6 ms)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "false")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)  # this file is benchmarks/serving.py: `import serving` must find the package
MODELS = {"lenet5": (32, 32, 1), "resnet18": (64, 64, 3)}
PREDICT = "/tensorflow.serving.PredictionService/Predict"
BATCHING = ("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\n"
            "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------
# measuring
# ------------------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int | None) -> float:
    """utime + stime of process `pid` (None: this process), in seconds."""
    if pid is None:
        return time.process_time()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)


def summary(latencies, seconds: float, cpu_seconds: float, errors: int) -> dict:
    latencies = np.asarray(latencies)
    n = len(latencies)
    return {
        "p50": float(np.percentile(latencies, 50) * 1e3) if n else float("nan"),
        "p99": float(np.percentile(latencies, 99) * 1e3) if n else float("nan"),
        "rps": n / seconds,
        "cpu_ms": cpu_seconds * 1e3 / n if n else float("nan"),
        "errors": errors,
    }


def measure_threads(call, concurrency: int, seconds: float, warmup: float) -> dict:
    """`call()` from `concurrency` threads: `warmup` seconds, then `seconds` measured (this process's CPU)."""
    latencies, errors, state = [], [0], {"measure": False, "stop": False}
    lock = threading.Lock()

    def worker():
        mine = []
        while not state["stop"]:
            t0 = time.perf_counter()
            try:
                call()
            except Exception:  # noqa: BLE001 - counted, the benchmark goes on
                errors[0] += 1
                continue
            if state["measure"]:
                mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    cpu, start = process_cpu_seconds(None), time.perf_counter()
    state["measure"] = True
    time.sleep(seconds)
    state["measure"] = False
    elapsed, cpu = time.perf_counter() - start, process_cpu_seconds(None) - cpu
    state["stop"] = True
    for t in threads:
        t.join()
    return summary(latencies, elapsed, cpu, errors[0])


def measure_grpc(port: int, payload: bytes, concurrency: int, seconds: float, warmup: float, pid: int) -> dict:
    """Raw Predict bytes from `concurrency` coroutines over one grpc.aio channel; CPU of process `pid`."""
    import grpc

    async def run():
        latencies, errors, state = [], [0], {"measure": False, "stop": False}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(PREDICT)  # bytes in, bytes out: no client-side protobuf work

            async def worker():
                while not state["stop"]:
                    t0 = time.perf_counter()
                    try:
                        await call(payload, timeout=60)
                    except grpc.aio.AioRpcError:
                        errors[0] += 1
                        continue
                    if state["measure"]:
                        latencies.append(time.perf_counter() - t0)

            tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
            await asyncio.sleep(warmup)
            cpu, start = process_cpu_seconds(pid), time.perf_counter()
            state["measure"] = True
            await asyncio.sleep(seconds)
            state["measure"] = False
            elapsed, cpu = time.perf_counter() - start, process_cpu_seconds(pid) - cpu
            state["stop"] = True
            await asyncio.gather(*tasks)
        return summary(latencies, elapsed, cpu, errors[0])

    return asyncio.run(run())


# ------------------------------------------------------------------------------------------------
# servers
# ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor_server(port: int, response_file: str) -> None:
    """A minimal grpcio server: every Predict gets the bytes of `response_file` (no parsing, no work)."""
    from concurrent import futures

    import grpc

    response = Path(response_file).read_bytes()
    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(lambda request, context: response)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=72))
    server.add_generic_rpc_handlers([handler])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def start(command: list) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_zoo_server(models_dir: Path, port: int, batching: Path | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "serving", str(models_dir), f"--port={port}", "--host=127.0.0.1",
               "--grpc_max_threads=72", "--log_level=WARNING"]
    if batching is not None:
        command += ["--enable_batching", f"--batching_parameters_file={batching}"]
    return start(command)


def wait_ready(port: int, payload: bytes, timeout: float = 180.0) -> bytes:
    """The first successful Predict's response bytes, retried until the server has loaded the model."""
    import grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(PREDICT)
        while True:
            try:
                return call(payload, timeout=30)
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def predict_payload(model: str, shape) -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    x = np.random.default_rng(0).random((1, *shape)).astype(np.float32)
    request.inputs["input_layer"].CopyFrom(tf.make_tensor_proto(x))
    return request.SerializeToString()


# ------------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------------


def export_models(names, folder: Path):
    import zoo
    from zoo.export import export

    for name in names:
        export(zoo.build(name, num_classes=10, input_shape=MODELS[name]), folder / name)


def in_process_rows(name: str, models_dir: Path, args) -> list:
    import tensorflow as tf

    from serving.servable import load_servable

    x = np.random.default_rng(0).random((1, *MODELS[name])).astype(np.float32)
    rows = []
    function = tf.saved_model.load(str(models_dir / name / "1")).signatures["serving_default"]
    tensor = tf.constant(x)
    servable = load_servable(name, 1, models_dir / name / "1")
    paths = {"in-process tf2": lambda: function(input_layer=tensor),
             "in-process servable": lambda: servable.run("serving_default", {"input_layer": x})}
    for path, call in paths.items():
        call()
        for concurrency in args.concurrency:
            rows.append((name, path, concurrency, measure_threads(call, concurrency, args.seconds, args.warmup)))
    servable.unload()
    return rows


def grpc_rows(name: str, servers: dict, folder: Path, args) -> list:
    payload = predict_payload(name, MODELS[name])
    response = wait_ready(servers["grpc, no batching"][1], payload)
    response_file = folder / f"{name}.response"
    response_file.write_bytes(response)
    port = free_port()
    floor = start([sys.executable, str(Path(__file__).resolve()), "--floor-server", str(port), str(response_file)])
    rows = []
    try:
        wait_ready(port, payload)
        for path, (process, server_port) in {"grpc floor": (floor, port), **servers}.items():
            wait_ready(server_port, payload)
            for concurrency in args.concurrency:
                rows.append((name, path, concurrency,
                             measure_grpc(server_port, payload, concurrency, args.seconds, args.warmup, process.pid)))
    finally:
        stop(floor)
    return rows


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def report(rows, load_before, load_after) -> None:
    reference = {(r[0], r[2]): r[3] for r in rows if r[1] == "in-process tf2"}
    unbatched = {(r[0], r[2]): r[3] for r in rows if r[1] == "grpc, no batching"}
    print(f"cores: {os.cpu_count()}; load average before {load_before:.2f}, after {load_after:.2f}; one example per "
          "request; x: ratio to in-process tf2 at the same concurrency; /unb: requests/s over grpc, no batching")
    header = (f"{'model':9} {'path':20} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'cpu ms/req':>10} "
              f"{'err':>4} {'p50 x':>6} {'req/s x':>8} {'/unb':>6}")
    print(header)
    print("-" * len(header))
    for name, path, concurrency, m in rows:
        ref, unb = reference[(name, concurrency)], unbatched.get((name, concurrency))
        versus = f"{m['p50'] / ref['p50']:6.2f} {m['rps'] / ref['rps']:8.2f}" if path != "in-process tf2" else " " * 15
        over_unbatched = f"{m['rps'] / unb['rps']:6.2f}" if unb and path.startswith("grpc, ") else ""
        print(f"{name:9} {path:20} {concurrency:4d} {m['p50']:8.2f} {m['p99']:8.2f} {m['rps']:8.1f} "
              f"{m['cpu_ms']:10.3f} {m['errors']:4d} {versus} {over_unbatched}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each row")
    parser.add_argument("--floor-server", nargs=2, metavar=("PORT", "RESPONSE_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_server:
        floor_server(int(args.floor_server[0]), args.floor_server[1])
        return 0

    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    servers = {}
    try:
        models_dir = folder / "models"
        export_models(args.models, models_dir)
        batching = folder / "batching.config"
        batching.write_text(BATCHING)
        for path, options in (("grpc, no batching", None), ("grpc, batching", batching)):
            port = free_port()
            servers[path] = (start_zoo_server(models_dir, port, options), port)
        rows = []
        for name in args.models:
            rows += in_process_rows(name, models_dir, args)
            rows += grpc_rows(name, servers, folder, args)
        report(rows, load_before, os.getloadavg()[0])
    finally:
        for process, _ in servers.values():
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
