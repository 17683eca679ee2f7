"""docker-compose.yml is consistent with the code (no Docker engine here: the file is parsed and checked).

Services, ports, volumes and commands: TensorFlow Serving's flags parse with the flags our server shares
with it, its inline configs parse with serving.config, the gateway's command parses with serving.cli
and points at tf-serving's port, the trainers' commands parse with zoo.cli and their TF_CONFIG
describes one two-worker cluster, and the chief exports where TensorFlow Serving looks.
"""

import json
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose():
    with open(ROOT / "docker-compose.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def flags(command) -> dict:
    """{"--flag": "value"} of a list of --flag=value arguments."""
    out = {}
    for arg in command:
        name, _, value = arg.partition("=")
        out[name] = value
    return out


def mounts(service) -> dict:
    """{container path: host path} of a service's volumes."""
    out = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        out[container] = host
    return out


def config_text(compose, service, target) -> str:
    for entry in service.get("configs", []):
        if entry["target"] == target:
            return compose["configs"][entry["source"]]["content"]
    raise AssertionError(f"no config mounted at {target}")


def test_services(compose):
    assert set(compose["services"]) == {"tf-serving", "gateway", "trainer-0", "trainer-1"}


def test_tf_serving_runs_the_real_image_on_models(compose):
    from serving import config as config_lib
    from serving.cli import make_parser

    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert service["entrypoint"] == ["tensorflow_model_server"]
    assert mounts(service)["/models"] == "./models"
    args = make_parser().parse_args(service["command"])  # the flags we share with tensorflow_model_server
    assert (args.port, args.rest_api_port) == (8500, 8501)
    assert {"8500", "8501"} <= set(service["expose"])
    assert args.enable_batching is True
    model_config = config_lib.parse_model_config(config_text(compose, service, args.model_config_file))
    for model in model_config.model_config_list.config:
        assert model.base_path.startswith("/models/")
    config_lib.batching_options(config_lib.parse_batching_parameters(
        config_text(compose, service, args.batching_parameters_file)))
    monitoring = config_lib.parse_monitoring_config(config_text(compose, service, args.monitoring_config_file))
    assert config_lib.prometheus_path(monitoring) == "/monitoring/prometheus/metrics"


def test_tf_serving_release_matches_the_tensorflow_models_are_exported_with(compose):
    """The image's release line is the TensorFlow line pyproject.toml pins (and this machine runs)."""
    import re

    import tensorflow as tf

    tag = compose["services"]["tf-serving"]["image"].split(":", 1)[1]
    pin = re.search(r'"tensorflow>=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text()).group(1)
    assert tag.startswith(pin + "."), f"tensorflow/serving:{tag} but the project exports with TensorFlow {pin}"
    assert tf.__version__.startswith(pin + "."), f"TensorFlow {tf.__version__} installed, {pin} pinned"


def test_gateway_forwards_to_tf_serving(compose):
    from serving.cli import make_parser

    service = compose["services"]["gateway"]
    upstream = compose["services"]["tf-serving"]
    assert service["entrypoint"] == ["python", "-m", "serving"]
    args = make_parser().parse_args(service["command"])
    host, port = args.upstream.rsplit(":", 1)
    assert host == "tf-serving" and int(port) == int(flags(upstream["command"])["--port"])
    assert "tf-serving" in service["depends_on"]
    published = {tuple(map(int, p.split(":"))) for p in service["ports"]}
    assert published == {(args.port, args.port), (args.rest_api_port, args.rest_api_port)}
    assert "SERVING_TOKEN" in service["environment"]  # serving.auth reads it
    from serving.auth import ENV_VAR

    assert ENV_VAR == "SERVING_TOKEN"
    dockerfile = service["build"]["dockerfile_inline"]
    for package in ("serving", "zoo", "layers"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "pip install --no-cache-dir ." in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()  # the gateway's own dependencies come with the package
    for package in ("tensorflow-serving-api", "grpcio-health-checking", "grpcio-reflection"):
        assert f'"{package}' in pyproject


def test_trainers_form_one_multiworker_cluster_and_export_where_tf_serving_looks(compose):
    from zoo.cli import make_parser

    services = compose["services"]
    configs = [json.loads(services[f"trainer-{i}"]["environment"]["TF_CONFIG"]) for i in range(2)]
    cluster = configs[0]["cluster"]
    assert all(c["cluster"] == cluster for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1}]
    for i, address in enumerate(cluster["worker"]):
        host, port = address.split(":")
        service = services[f"trainer-{i}"]
        assert service["hostname"] == host and port in service["expose"]
        assert mounts(service)["/data"] == "./data"
    chief_script = services["trainer-0"]["command"][0]
    train_0 = shlex.split(chief_script.split("&&")[0])
    train_1 = services["trainer-1"]["command"]
    for argv in (train_0[1:], train_1):
        args = make_parser().parse_args(argv)
        assert args.command == "train" and args.strategy == "multiworker" and args.data.startswith("/data/")
    assert train_0[0] == "zoo" and services["trainer-1"]["entrypoint"] == ["zoo"]
    # the chief exports into the folder tf-serving serves (same host folder, same model base path)
    assert mounts(services["trainer-0"])["/models"] == mounts(services["tf-serving"])["/models"]
    from serving import config as config_lib

    upstream = services["tf-serving"]
    base_paths = [m.base_path for m in config_lib.parse_model_config(config_text(
        compose, upstream, flags(upstream["command"])["--model_config_file"])).model_config_list.config]
    export = shlex.split(chief_script.split("&&")[1])  # the chief exports what it trained, with `zoo export`
    assert export[0] == "zoo"
    exported = make_parser().parse_args(export[1:])
    assert exported.command == "export" and exported.model == make_parser().parse_args(train_0[1:]).output
    assert exported.base_path in base_paths


def test_the_documented_command_writes_the_data_the_trainers_read(compose, tmp_path):
    import subprocess
    import sys

    from zoo.cli import make_parser
    from zoo.training.sources import read_source

    header = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").split("\nname:")[0]
    command = next(line.split("#", 1)[1].split("#")[0].split() for line in header.splitlines()
                   if "zoo.data.digits" in line)
    assert command[:3] == ["python", "-m", "zoo.data.digits"] and command[3] == "data/digits.npz"
    subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, check=True, capture_output=True)
    assert mounts(compose["services"]["trainer-1"])["/data"] == "./data"  # beside docker-compose.yml
    trained_on = make_parser().parse_args(compose["services"]["trainer-1"]["command"]).data
    assert trained_on == "/data/digits.npz"
    source = read_source(str(tmp_path / command[3]))  # what the trainers read as /data/digits.npz
    assert source.input_shape == (32, 32, 1) and source.num_classes == 10 and source.labels.size == 898
