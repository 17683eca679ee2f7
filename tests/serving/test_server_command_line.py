"""`python -m serving` with tensorflow_model_server's command lines: flags, start-up failures."""

import subprocess
import sys
import time
from socket import create_server

import pytest

from serving.cli import NO_EFFECT_FLAGS, make_parser
from serving.grpc_server import parse_channel_arguments


def test_channel_arguments_parse_as_tf_serving_does():
    assert parse_channel_arguments("grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb") == {
        "grpc.max_connection_age_ms": 2000, "grpc.lb_policy_name": "grpclb"}
    assert parse_channel_arguments("grpc.so_reuseaddr=0,grpc.so_reuseaddr=1") == {"grpc.so_reuseaddr": 1}
    assert parse_channel_arguments("") == {}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_channel_arguments("grpc.so_reuseaddr")


def test_every_tensorflow_model_server_flag_is_accepted():
    implemented = ["--port=1", "--grpc_socket_path=/tmp/s.sock", "--rest_api_port=2", "--rest_api_timeout_in_ms=5",
                   "--model_name=m", "--model_base_path=/m", "--model_config_file_poll_wait_seconds=1",
                   "--file_system_poll_wait_seconds=1", "--num_load_threads=1", "--enable_batching",
                   "--grpc_channel_arguments=a=1", "--grpc_max_threads=4", "--enable_model_warmup=false",
                   "--saved_model_tags=serve,tpu", "--prefer_tflite_model=true",
                   "--enable_signature_method_name_check", "--enable_serialization_as_tensor_content=true",
                   "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1"]
    args = make_parser().parse_args(implemented + [f"--{flag}=1" for flag in NO_EFFECT_FLAGS])
    assert args.grpc_socket_path == "/tmp/s.sock" and args.prefer_tflite_model is True
    assert args.enable_signature_method_name_check is True and args.enable_serialization_as_tensor_content is True
    assert args.enable_model_warmup is False and args.saved_model_tags == "serve,tpu"


def run_server(*flags, timeout=120):
    return subprocess.run([sys.executable, "-m", "serving", "--host=127.0.0.1", "--port=0", *flags],
                          capture_output=True, text=True, timeout=timeout)


def test_a_model_that_fails_to_load_stops_the_start(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)  # a version folder with no SavedModel in it
    run = run_server("--model_name=m", f"--model_base_path={tmp_path / 'm'}")
    assert run.returncode == 1
    assert "1 model(s) did not become available: m: version 1: Could not find SavedModel" in run.stderr
    # TensorFlow started (it loaded the version) without its C++ start-up lines (serving.tf_startup)
    assert not [line for line in run.stderr.splitlines()
                if any(marker in line for marker in ("absl::InitializeLog", "port.cc:", "cudart_stub.cc:", "cuInit"))]


@pytest.mark.parametrize("command, flag", [
    (["-m", "serving", "--port={port}"], "--port"),
    (["-m", "zoo", "serve", "{models}", "--port=0", "--rest_api_port={port}"], "--rest_api_port"),
])
def test_a_port_in_use_is_one_line_naming_it(tmp_path, command, flag):
    taken = create_server(("0.0.0.0", 0))  # listening, as another server would be
    port = taken.getsockname()[1]
    try:
        args = [a.format(port=port, models=tmp_path) for a in command]
        run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
    finally:
        taken.close()
    assert run.returncode == 2
    prog = "zoo serve" if "zoo" in command else "python -m serving"
    assert run.stderr.splitlines() == [
        f"{prog}: error: {flag}={port}: 0.0.0.0:{port} is already in use (another server is listening on it): "
        f"stop that server, or choose another port ({flag}=0 takes any free port)"]


def test_one_port_for_grpc_and_rest_is_refused_before_anything_starts():
    run = subprocess.run([sys.executable, "-m", "serving", "--port=8765", "--rest_api_port=8765"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "python -m serving: error: --port and --rest_api_port are both 8765: gRPC and REST need a port each"]


def test_a_bad_config_file_is_named_as_tf_serving_names_it(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("improperly formatted file")
    run = run_server(f"--model_config_file={config}")
    assert run.returncode == 2
    assert f"{config}: Error parsing text-format tensorflow.serving.ModelServerConfig" in run.stderr


def half_plus_two(base):
    """TF Serving's half_plus_two as a TF2 SavedModel, written here: y = 0.5 x + 2 for x of any shape."""
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": 0.5 * x + 2.0}, input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    tf.saved_model.save(module, str(base / "1"), signatures=module.f)
    return base


def test_unix_socket_and_tensor_content_flags(tmp_path):
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.tensor_codec import to_ndarray, to_tensor_proto

    socket = tmp_path / "serving.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "serving", "--host=127.0.0.1", "--port=0", "--model_name=hp2",
         f"--model_base_path={half_plus_two(tmp_path / 'hp2')}", f"--grpc_socket_path={socket}",
         "--enable_serialization_as_tensor_content=true", "--grpc_channel_arguments=grpc.max_connection_age_ms=60000"],
        stderr=(tmp_path / "server.log").open("w"))
    try:
        _wait_for(tmp_path / "server.log", "serving gRPC on", server)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "hp2"
        request.inputs["x"].CopyFrom(to_tensor_proto(np.array([2.0, 3.0], np.float32)))  # [2] into [-1, 1]
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        y = response.outputs["y"]
        assert y.tensor_content and not y.float_val  # --enable_serialization_as_tensor_content
        np.testing.assert_array_equal(to_ndarray(y), [3.0, 3.5])
    finally:
        server.terminate()
        server.wait(30)


def _wait_for(log, text, process, timeout=120):
    """Wait until the server's log shows `text` (it is then serving)."""
    import time

    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _poll(condition, seconds: float) -> bool:
    """Whether `condition()` becomes true within `seconds` (a generous bound, not a timing claim)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def server_rss_mb(pid) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_memory_of_big_requests_stays_bounded(tmp_path):
    """48 MB requests: the memory they take is given back (RSS returns near its level before them),
    and does not grow with the number of big requests."""
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.tensor_codec import to_tensor_proto

    module = tf.Module()
    module.f = tf.function(lambda x: {"y": tf.reduce_sum(x * 2.0)}, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "sum" / "1"), signatures=module.f)
    socket = tmp_path / "serving.sock"
    log = tmp_path / "server.log"
    server = subprocess.Popen([sys.executable, "-m", "serving", "--host=127.0.0.1", "--port=0", "--model_name=sum",
                               f"--model_base_path={tmp_path / 'sum'}", f"--grpc_socket_path={socket}"],
                              stderr=log.open("w"))
    try:
        _wait_for(log, "serving gRPC on", server)
        options = [("grpc.max_send_message_length", 64 << 20)]
        with grpc.insecure_channel(f"unix:{socket}", options=options) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def send(n):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "sum"
                request.inputs["x"].CopyFrom(to_tensor_proto(np.ones(n, np.float32), as_content=True))
                return tf.make_ndarray(stub.Predict(request, timeout=60).outputs["y"])

            for _ in range(3):
                assert send(1000) == 2000.0  # warm: callables made, thread pools up
            start = server_rss_mb(server.pid)
            for _ in range(2):
                assert send(12_000_000) == 24_000_000.0  # what stays resident after these is reused below
            first = server_rss_mb(server.pid)
            for _ in range(6):
                assert send(12_000_000) == 24_000_000.0
            after = server_rss_mb(server.pid)
            given_back = _poll(lambda: server_rss_mb(server.pid) < start + 16, seconds=20)  # trimmed shortly after
            end = server_rss_mb(server.pid)
        print(f"server RSS {start:.0f} MB warm, {first:.0f} MB after two 48 MB requests, {after:.0f} after 8, "
              f"{end:.0f} once given back")
        # given back: RSS returns near where it started (670 -> 668 MB measured); kept, it was +40..75 MB with
        # glibc's heap, +120..160 MB with oneDNN's pooling allocator, and 48 MB a request if it leaked
        assert given_back, (start, first, after, end)
    finally:
        server.terminate()
        server.wait(30)
