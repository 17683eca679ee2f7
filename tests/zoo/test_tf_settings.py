"""`import zoo` sets TensorFlow's training settings (zoo._tf_settings) unless the user set them: the CPU
BFC pool (TF_CPU_ALLOCATOR_USE_BFC, the pool is what reports memory statistics) and oneDNN's kernels
(TF_ENABLE_ONEDNN_OPTS); the names it set are recorded for the model server, which drops them."""

import os
import subprocess
import sys

import tensorflow as tf
from tensorflow.python.framework import test_util

import zoo  # noqa: F401  (this process imported zoo before TensorFlow, as a user does)
from zoo import _tf_settings

PROBE = ("import zoo, tensorflow as tf\n"
         "from tensorflow.python.framework import test_util\n"
         "tf.ones([4])\n"
         "try:\n    tf.config.experimental.get_memory_info('CPU:0')\n    print('pool')\n"
         "except ValueError:\n    print('malloc')\n"
         "print('onednn' if test_util.IsMklEnabled() else 'eigen')\n")


def probe(**variables):
    env = {k: v for k, v in os.environ.items() if k not in _tf_settings.TRAINING_SETTINGS and k != _tf_settings.MARKER}
    run = subprocess.run([sys.executable, "-c", PROBE], env=dict(env, **variables), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.split()[-2:]


def test_after_import_zoo_cpu_tensors_come_from_the_pool_that_counts_bytes():
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    x = tf.ones([1024, 1024])  # 4 MiB, alive while counted
    info = tf.config.experimental.get_memory_info("CPU:0")
    assert info["current"] - before >= x.shape.num_elements() * 4
    assert info["peak"] >= info["current"]


def test_after_import_zoo_tensorflow_runs_onednn_kernels():
    assert test_util.IsMklEnabled()


def test_a_fresh_process_gets_both_and_the_users_settings_win():
    assert probe() == ["pool", "onednn"]
    assert probe(TF_CPU_ALLOCATOR_USE_BFC="false", TF_ENABLE_ONEDNN_OPTS="0") == ["malloc", "eigen"]


def test_only_what_zoo_set_is_recorded_for_the_server():
    environ = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert _tf_settings.apply(environ) == ["TF_CPP_MIN_LOG_LEVEL", "TF_CPU_ALLOCATOR_USE_BFC"]
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0" and environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    assert environ[_tf_settings.MARKER] == "TF_CPP_MIN_LOG_LEVEL,TF_CPU_ALLOCATOR_USE_BFC"
    assert _tf_settings.apply(environ) == [] and environ[_tf_settings.MARKER].count(",") == 1
