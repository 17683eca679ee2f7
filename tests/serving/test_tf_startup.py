"""serving.tf_startup: TF_CPP_MIN_LOG_LEVEL applied to what TensorFlow writes to fd 2 while it loads."""

import subprocess
import sys

import pytest

# What TensorFlow 2.21 prints while loading on a machine without CUDA, then lines that must pass.
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796174854.900484    4717 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1796174854.901032    4717 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1796175262.410956    4717 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
]
WARNING = "W0000 00:00:1796175262.5    4717 some_op.cc:12] a warning"
REAL = [
    "E0000 00:00:1796175262.6    4717 saved_model.cc:99] a real error",
    "F0000 00:00:1796175262.7    4717 port.cc:1] a fatal error",
    "Traceback (most recent call last): from Python",
    "plain text without a newline",
]

SCRIPT = r"""
import os, sys
from serving.tf_startup import filtered_stderr
lines = sys.argv[1:]
with filtered_stderr():
    for line in lines[:-1]:
        os.write(2, line.encode() + b"\n")
    print("from sys.stderr", file=sys.stderr)
    os.write(2, lines[-1].encode())
print("", file=sys.stderr)
print("after the filter", file=sys.stderr)
print("IMPORTED", "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("level, dropped", [
    ("2", NOISE + [WARNING]),      # zoo's default: I and W lines, and the noise
    ("1", NOISE),                  # I lines (and the cuInit failure that follows "no drivers")
    ("0", []),                     # everything, as TensorFlow would print it
    ("3", NOISE + [WARNING, REAL[0]]),
])
def test_lines_below_the_level_are_dropped_and_the_rest_pass_in_order(level, dropped):
    lines = NOISE + [WARNING] + REAL
    result = subprocess.run([sys.executable, "-c", SCRIPT, *lines], capture_output=True, text=True, timeout=60,
                            env={"TF_CPP_MIN_LOG_LEVEL": level, "PYTHONPATH": ":".join(sys.path)})
    assert result.returncode == 0, result.stderr
    kept = [line for line in lines[:-1] if line not in dropped]
    assert result.stderr.splitlines() == kept + ["from sys.stderr", lines[-1], "after the filter"]
    assert "IMPORTED False" in result.stdout


def test_a_cuinit_failure_with_drivers_present_is_a_real_error():
    cuinit = NOISE[3]
    result = subprocess.run([sys.executable, "-c", SCRIPT, cuinit, "end"], capture_output=True, text=True,
                            timeout=60, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ":".join(sys.path)})
    assert result.stderr.splitlines() == [cuinit, "from sys.stderr", "end", "after the filter"]


WITHOUT_KERAS = r"""
import sys
from serving.tf_startup import import_tensorflow
tf = import_tensorflow(without_keras=True)
print("LOADED", *sorted(m for m in ("keras", "tf_keras", "sklearn", "matplotlib") if m in sys.modules))
print("SESSION", tf.compat.v1.Session(graph=tf.Graph()).graph is not None)
import keras
print("KERAS", keras.layers.Dense(2)(tf.ones([1, 3])).shape, tf.keras.layers.Dense is keras.layers.Dense)
"""


def test_the_server_imports_tensorflow_without_keras_and_keras_still_imports_afterwards():
    run = subprocess.run([sys.executable, "-c", WITHOUT_KERAS], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert run.stdout.splitlines()[0] == "LOADED"  # none of Keras, tf_keras, scikit-learn, matplotlib
    assert lines["SESSION"] == "True"
    assert lines["KERAS"] == "(1, 2) True"
