"""serving.config: model config flags and files, config polling, batching and monitoring files."""

import os
import threading

import pytest

from serving import config as cfg
from serving.source import VersionPolicy

MODEL_CONFIG = """
model_config_list {
  config {
    name: "digits"
    base_path: "/models/digits"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "text"
    base_path: "/models/text"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 3 versions: 5 } }
  }
}
"""


def test_single_model_from_flags():
    config = cfg.model_config_from_flags(model_name="digits", model_base_path="/models/digits")
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == ("digits", "/models/digits", "tensorflow")
    assert VersionPolicy.from_proto(model.model_version_policy) == VersionPolicy.latest(1)
    assert cfg.model_config_from_flags(model_base_path="/m").model_config_list.config[0].name == "default"
    with pytest.raises(ValueError, match="--model_base_path .* or --model_config_file"):
        cfg.model_config_from_flags()


def test_model_config_file(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(MODEL_CONFIG)
    config = cfg.model_config_from_flags(model_base_path="/ignored", model_config_file=path)  # the file wins
    digits, text = config.model_config_list.config
    assert VersionPolicy.from_proto(digits.model_version_policy) == VersionPolicy.latest(2)
    assert dict(digits.version_labels) == {"stable": 1, "canary": 2}
    assert VersionPolicy.from_proto(text.model_version_policy) == VersionPolicy.specific([3, 5])
    assert cfg.parse_model_config(cfg.model_config_to_text(config)) == config
    single = cfg.single_model_config("m", "/m", VersionPolicy.all(), {"a": 1})
    assert cfg.parse_model_config(cfg.model_config_to_text(single)) == single


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: 'a' base_path: '/a' } } bogus: 1", "Error parsing text-format tensorflow.serving.ModelServerConfig"),
        ("model_config_list { config { name: 'a' base_path: '/a' } config { name: 'a' base_path: '/b' } }",
         "Illegal to list model a multiple times"),
        ("model_config_list { config { name: 'a' } }", "model a: base_path is empty"),
        ("model_config_list { config { base_path: '/a' } }", "model config #1 has no name"),
        ("model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }", "not supported"),
        ("model_config_list { config { name: 'a' base_path: '/a' model_version_policy { specific { } } } }",
         "model a: specific version policy"),
        ("custom_model_config { type_url: 'x' }", "custom_model_config is not supported"),
    ],
)
def test_bad_model_configs(text, message):
    with pytest.raises(ValueError, match=message):
        cfg.parse_model_config(text)


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model config file not found"):
        cfg.read_model_config(tmp_path / "nope.config")


def test_config_file_watcher(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(MODEL_CONFIG)
    seen = []
    watcher = cfg.ConfigFileWatcher(path, seen.append, poll_wait_seconds=0.05)
    assert watcher.check_now() is False  # unchanged since it was created
    path.write_text(MODEL_CONFIG.replace("num_versions: 2", "num_versions: 3"))
    assert watcher.check_now() is True
    assert seen[-1].model_config_list.config[0].model_version_policy.latest.num_versions == 3
    path.write_text("this is { not a config")  # a broken file is skipped, the running config stays
    assert watcher.check_now() is False and len(seen) == 1

    changed = threading.Event()
    watcher = cfg.ConfigFileWatcher(path, lambda config: changed.set(), poll_wait_seconds=0.05)
    watcher.start()
    try:
        path.write_text(MODEL_CONFIG)
        assert changed.wait(5)
    finally:
        watcher.stop()


def test_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        """
        max_batch_size { value: 32 }
        batch_timeout_micros { value: 2000 }
        max_enqueued_batches { value: 100 }
        num_batch_threads { value: 4 }
        thread_pool_name { value: "model_batch_threads" }
        allowed_batch_sizes: 8
        allowed_batch_sizes: 16
        allowed_batch_sizes: 32
        pad_variable_length_inputs: true
        batch_padding_policy: "PAD_UP"
        """
    )
    params = cfg.read_batching_parameters(path)
    assert params.max_batch_size.value == 32
    options = cfg.batching_options(params)
    assert options == cfg.batching_options(os.fspath(path))
    assert (options.max_batch_size, options.batch_timeout_micros, options.max_enqueued_batches) == (32, 2000, 100)
    assert (options.num_batch_threads, options.thread_pool_name) == (4, "model_batch_threads")
    assert options.allowed_batch_sizes == (8, 16, 32) and options.pad_variable_length_inputs
    assert options.batch_timeout_seconds == pytest.approx(0.002)


def test_batching_defaults_and_errors():
    defaults = cfg.batching_options(None)
    assert (defaults.max_batch_size, defaults.batch_timeout_micros, defaults.max_enqueued_batches) == (1000, 0, 10)
    assert defaults.num_batch_threads >= 1 and defaults.allowed_batch_sizes == ()
    partial = cfg.batching_options(cfg.parse_batching_parameters("max_batch_size { value: 8 }"))
    assert partial.max_batch_size == 8 and partial.max_enqueued_batches == 10
    for text, message in [
        ("max_batch_size { value: 0 }", "max_batch_size must be >= 1"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2", "increasing"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 4", "must equal max_batch_size"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            cfg.batching_options(cfg.parse_batching_parameters(text))
    split = cfg.parse_batching_parameters(
        "max_batch_size { value: 64 } enable_large_batch_splitting { value: true } "
        "max_execution_batch_size { value: 16 } allowed_batch_sizes: 8 allowed_batch_sizes: 16"
    )
    assert cfg.batching_options(split).max_execution_batch_size == 16
    with pytest.raises(ValueError, match="Error parsing text-format tensorflow.serving.BatchingParameters"):
        cfg.parse_batching_parameters("max_batch_size: {")


def test_monitoring_config(tmp_path):
    path = tmp_path / "monitoring.config"
    path.write_text('prometheus_config { enable: true, path: "/metrics" }')
    assert cfg.prometheus_path(cfg.read_monitoring_config(path)) == "/metrics"
    enabled = cfg.parse_monitoring_config("prometheus_config { enable: true }")
    assert cfg.prometheus_path(enabled) == cfg.PROMETHEUS_DEFAULT_PATH == "/monitoring/prometheus/metrics"
    assert cfg.prometheus_path(cfg.parse_monitoring_config("prometheus_config { enable: false }")) is None
    assert cfg.prometheus_path(None) is None
    with pytest.raises(FileNotFoundError):
        cfg.read_monitoring_config(tmp_path / "nope")
