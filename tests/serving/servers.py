"""Helpers shared by the server tests: small exported models, servers on free ports, a self-signed certificate."""

import contextlib
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import zoo
from serving.grpc_server import serve
from zoo.export import export

NAMES = ["cat", "dog", "bird"]

# The small untrained models the server tests export, by the name they are served under.
SMALL_MODELS = {
    "image": lambda: zoo.build("lenet5", num_classes=3, input_shape=(32, 32, 1)),
    "seq": lambda: zoo.build("conv1d", num_classes=3, input_shape=(None, 2)),
    "graph": lambda: zoo.build("gcn", num_classes=3, input_shape=(5,)),
    "reg": lambda: zoo.build("mlp", num_classes=1, input_shape=(8, 8, 1), classifier_activation=None),
    "molecules": lambda: zoo.build("gin", num_classes=3, input_shape=(7,)),  # graph-level: node_graph_ids input
}


def build_models(*names):
    """{name: model} for the SMALL_MODELS named, built in that order."""
    return {name: SMALL_MODELS[name]() for name in names}


def export_models(root: Path, models: dict, class_names: dict = None):
    """Export each model to root/<name> in the given order (with class_names[name] where given);
    return {"root": root, **models}."""
    class_names = class_names or {}
    for name, model in models.items():
        if name in class_names:
            export(model, root / name, class_names=class_names[name])
        else:
            export(model, root / name)
    return {"root": root, **models}


@contextlib.contextmanager
def running(models_dir, rest_api_port=None, **options):
    """A server for models_dir on free ports of 127.0.0.1 (REST only if rest_api_port is given), stopped after."""
    server = serve(models_dir=models_dir, host="127.0.0.1", port=0, rest_api_port=rest_api_port, **options)
    try:
        yield server
    finally:
        server.stop(grace=1)


def free_port():
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(folder: Path):
    """A self-signed certificate for localhost / 127.0.0.1 (openssl); skips when openssl is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key
