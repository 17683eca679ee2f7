"""Serving benchmark: gRPC Predict latency and throughput against the in-process SavedModel (the limit).

    python benchmarks/serving.py                       # lenet5 (32x32x1) and resnet18 (64x64x3)
    python benchmarks/serving.py --seconds 5 --concurrency 1 8 64 --models lenet5

For each model: exports it with zoo.export (random weights: speed does not depend on them), then
measures, for 1, 8 and 64 concurrent callers each sending one example at a time,
- in-process: the loaded SavedModel's serving_default called from that many threads (no network,
  no serialization: the limit any server can reach);
- gRPC: `python -m serving` in a separate process, without and with server-side batching, called
  through the raw `prediction_service_pb2_grpc` stub from that many threads over one channel;
and prints p50 / p99 latency and requests/s, with the ratios gRPC / in-process (latency: higher is
slower; throughput: lower is slower). Both run in the same invocation on the same machine; the
client threads share the machine with the server, as they would on one host.
"""

from __future__ import annotations

import argparse
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

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"lenet5": (32, 32, 1), "resnet18": (64, 64, 3)}


def export_models(names, folder: Path):
    import zoo
    from zoo.export import export

    for name in names:
        model = zoo.build(name, num_classes=10, input_shape=MODELS[name])
        export(model, folder / name)


def measure(call, concurrency: int, seconds: float, warmup: float = 0.5):
    """Run `call()` from `concurrency` threads for `seconds`; returns (p50 ms, p99 ms, requests/s, errors)."""
    latencies = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start_gate = threading.Barrier(concurrency + 1)
    state = {"measure_from": None, "stop_at": None}

    def worker(i):
        start_gate.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= state["stop_at"]:
                return
            try:
                call()
            except Exception:  # noqa: BLE001 - counted, the benchmark goes on
                errors[i] += 1
                continue
            t1 = time.perf_counter()
            if t0 >= state["measure_from"]:
                latencies[i].append(t1 - t0)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    state["measure_from"] = now + warmup
    state["stop_at"] = now + warmup + seconds
    start_gate.wait()
    for t in threads:
        t.join()
    all_latencies = np.array([x for per in latencies for x in per])
    if len(all_latencies) == 0:
        return float("nan"), float("nan"), 0.0, sum(errors)
    return (float(np.percentile(all_latencies, 50) * 1e3), float(np.percentile(all_latencies, 99) * 1e3),
            len(all_latencies) / seconds, sum(errors))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models_dir: Path, batching: bool, folder: Path, threads: int):
    port = free_port()
    command = [sys.executable, "-m", "serving", str(models_dir), f"--port={port}", "--host=127.0.0.1",
               f"--grpc_max_threads={threads}", "--log_level=WARNING"]
    if batching:
        params = folder / "batching.config"
        params.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\n"
                          "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n")
        command += ["--enable_batching", f"--batching_parameters_file={params}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process, port


def wait_ready(port: int, model: str, shape, timeout: float = 180.0):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=timeout)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_request(model, shape)
    deadline = time.monotonic() + timeout
    while True:
        try:
            stub.Predict(request, timeout=30)
            return channel, stub, request
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def predict_request(model: str, shape):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    x = np.random.default_rng(0).random((1, *shape)).astype(np.float32)
    request.inputs["input_layer"].CopyFrom(tf.make_tensor_proto(x))
    return request


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per configuration")
    args = parser.parse_args(argv)

    import tensorflow as tf

    folder = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    servers = []
    try:
        models_dir = folder / "models"
        export_models(args.models, models_dir)
        threads = max(64, max(args.concurrency) + 8)
        servers = {mode: start_server(models_dir, mode == "batching", folder, threads)
                   for mode in ("no batching", "batching")}
        rows = []
        for name in args.models:
            shape = MODELS[name]
            loaded = tf.saved_model.load(str(models_dir / name / "1"))
            fn = loaded.signatures["serving_default"]
            x = tf.constant(np.random.default_rng(0).random((1, *shape)).astype(np.float32))
            fn(input_layer=x)
            for concurrency in args.concurrency:
                rows.append((name, "in-process", concurrency, *measure(lambda: fn(input_layer=x), concurrency,
                                                                      args.seconds)))
            for mode, (process, port) in servers.items():
                channel, stub, request = wait_ready(port, name, shape)
                with channel:
                    for concurrency in args.concurrency:
                        rows.append((name, f"gRPC, {mode}", concurrency,
                                     *measure(lambda: stub.Predict(request, timeout=60), concurrency, args.seconds)))
        report(rows)
    finally:
        for process, _ in (servers.values() if isinstance(servers, dict) else []):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def report(rows):
    reference = {(r[0], r[2]): r for r in rows if r[1] == "in-process"}
    print(f"cores: {os.cpu_count()}; one example per request; ratios are gRPC / in-process at the same concurrency")
    header = f"{'model':9} {'path':22} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'err':>4} " \
             f"{'p50 x':>7} {'p99 x':>7} {'req/s x':>8}"
    print(header)
    print("-" * len(header))
    for name, path, concurrency, p50, p99, rps, errors in rows:
        ref = reference[(name, concurrency)]
        ratios = "" if path == "in-process" else f"{p50 / ref[3]:7.2f} {p99 / ref[4]:7.2f} {rps / ref[5]:8.2f}"
        print(f"{name:9} {path:22} {concurrency:4d} {p50:8.2f} {p99:8.2f} {rps:8.1f} {errors:4d} {ratios}")


if __name__ == "__main__":
    sys.exit(main())
