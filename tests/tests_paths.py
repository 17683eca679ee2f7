"""Where the shared data lives, for module-scoped fixtures (conftest's `shared_data` is per test), the
data sets that only a local copy has (never downloaded in tests), and free loopback ports for worker
clusters."""

import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_or_skip() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


def local_dataset_or_skip(name: str, **options):
    """`zoo.data.load_dataset(name)` from `$ZOO_DATA_DIR` (conftest points it at ../shared/data) or the
    cache, never downloaded; skips when neither has it (e.g. CiteSeer, PROTEINS in a bare clone)."""
    from zoo.data import load_dataset
    from zoo.errors import DatasetUnavailableError

    try:
        return load_dataset(name, download=False, **options)
    except DatasetUnavailableError as error:
        pytest.skip(f"{name} is not available locally: {error}")


def free_ports(n: int) -> list[int]:
    """`n` distinct ports of 127.0.0.1 that were free a moment ago (for TF_CONFIG clusters)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
