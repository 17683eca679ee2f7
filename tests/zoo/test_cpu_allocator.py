"""`import zoo` puts TensorFlow's CPU tensors in its BFC pool (TF_CPU_ALLOCATOR_USE_BFC, see the
zoo package doc) unless the user set the variable; the pool is what reports memory statistics."""

import os
import subprocess
import sys

import tensorflow as tf

import zoo  # noqa: F401  (this process imported zoo before its first TensorFlow op, as a user does)


def test_after_import_zoo_cpu_tensors_come_from_the_pool_that_counts_bytes():
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    x = tf.ones([1024, 1024])  # 4 MiB, alive while counted
    info = tf.config.experimental.get_memory_info("CPU:0")
    assert info["current"] - before >= x.shape.num_elements() * 4
    assert info["peak"] >= info["current"]


def test_the_users_setting_wins():
    code = ("import zoo, tensorflow as tf\n"
            "tf.ones([4])\n"
            "try:\n    tf.config.experimental.get_memory_info('CPU:0')\n    print('pool')\n"
            "except ValueError:\n    print('malloc')\n")
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="false", TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "malloc"
