"""The server's model configuration, batching parameters and monitoring config, from flags and files.

Interface:

    model_config_from_flags(model_name=None, model_base_path=None, model_config_file=None)
        -> model_server_config_pb2.ModelServerConfig
        `--model_name/--model_base_path` (one model, latest version) or `--model_config_file`
        (text format); both or neither: ValueError with a clear message.
    parse_model_config(text: str) -> ModelServerConfig          # text format; ValueError with the
                                                                # parse error's line on bad text
    read_model_config(path) -> ModelServerConfig                # + base paths made absolute
                                                                # relative to the file's folder
    validate_model_config(config)                               # names unique and non-empty, base
                                                                # paths set, labels -> ints; ValueError
    model_config_to_text(config) -> str

    ConfigFileWatcher(path, callback, poll_wait_seconds)        # re-reads the file every
        poll_wait_seconds (<= 0: never) and calls callback(ModelServerConfig) when it changed;
        a broken file is logged and skipped (the running config stays)
    watcher.start() / watcher.stop() / watcher.check_now() -> bool

    BatchingParameters                                         # protobuf message class with TF
        Serving's session_bundle_config.proto fields (max_batch_size, batch_timeout_micros,
        max_enqueued_batches, num_batch_threads as Int64Value wrappers, thread_pool_name,
        allowed_batch_sizes, pad_variable_length_inputs, ...); the pip package
        tensorflow-serving-api does not ship that proto, so it is defined here, field for field
    parse_batching_parameters(text) / read_batching_parameters(path) -> BatchingParameters
    BatchingOptions (dataclass: max_batch_size=1000? see below, batch_timeout_micros,
        max_enqueued_batches, num_batch_threads, allowed_batch_sizes, pad_variable_length_inputs)
    batching_options(params: BatchingParameters | None) -> BatchingOptions  # TF Serving's defaults
        for unset fields: max_batch_size 1000, batch_timeout_micros 0, max_enqueued_batches 10,
        num_batch_threads = number of CPUs, allowed_batch_sizes [] (checked: increasing, last ==
        max_batch_size)

    MonitoringConfig / PrometheusConfig                        # monitoring_config.proto, defined here
    read_monitoring_config(path) -> MonitoringConfig; parse_monitoring_config(text)
        (prometheus_config { enable: true path: "/monitoring/prometheus/metrics" })
    PROMETHEUS_DEFAULT_PATH = "/monitoring/prometheus/metrics"
"""

from __future__ import annotations
