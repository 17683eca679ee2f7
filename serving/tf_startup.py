"""Start TensorFlow without the C++ lines that TF_CPP_MIN_LOG_LEVEL does not reach.

Importing TensorFlow 2.21 prints, twice (while its shared libraries load, before TensorFlow has
read TF_CPP_MIN_LOG_LEVEL or initialized absl logging):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796174854.900484    4717 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796174854.901032    4717 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

and its first look at the devices, where no CUDA driver was found, an E-line
"cuda_platform.cc:52] failed call to cuInit: ...". No variable or absl setting reaches these
(they are logged while the libraries load). `import_tensorflow()` therefore applies what
TF_CPP_MIN_LOG_LEVEL promises to the lines written to fd 2 while TensorFlow loads and lists its
devices: absl-format lines below that level (level 1: I; 2: I and W; 3: I, W and E) and absl's
"before InitializeLog" notice are dropped, as is the cuInit failure that follows "Could not find
cuda drivers". Everything else passes through as it comes: fatal (F) lines, E-lines at levels
below 3, Python warnings and tracebacks, any other text. TF_CPP_MIN_LOG_LEVEL unset or 0 filters
nothing. The filter is a child process reading a pipe, so nothing is held back if TensorFlow
aborts while loading, and a burst of output cannot block the import.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ABSL_PREFIX = r"\d{4} [0-9:.]+ +\d+ [^ \]]+:\d+\] "  # after the severity letter: MMDD time thread file:line]
NO_DRIVER = "Could not find cuda drivers on your machine"
CUINIT_FAILED = "failed call to cuInit"

# The child: copies stdin to stdout line by line, leaving out what the module docstring says.
_FILTER = r"""
import re, sys
severities, prefix, notice, no_driver, cuinit = (a.encode() for a in sys.argv[1:])
below_level = re.compile(b"[" + severities + b"]" + prefix)
error = re.compile(b"E" + prefix)
seen_no_driver = False
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    seen_no_driver = seen_no_driver or no_driver in line
    if (line.rstrip(b"\r\n") == notice or below_level.match(line)
            or (seen_no_driver and cuinit in line and error.match(line))):
        continue
    out.write(line)
    out.flush()
"""


def min_log_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def dropped_severities(level: int) -> str:
    """The absl severities TF_CPP_MIN_LOG_LEVEL=`level` hides: "" (0), "I", "IW", "IWE" (3 and more)."""
    return "IWE"[:max(0, min(level, 3))]


@contextlib.contextmanager
def filtered_stderr(level: int | None = None):
    """Inside the block, fd 2 goes through the filter of the module docstring for `level`
    (default: $TF_CPP_MIN_LOG_LEVEL). Level 0, or no usable fd 2, filters nothing."""
    level = min_log_level() if level is None else level
    severities = dropped_severities(level)
    try:
        saved = os.dup(2) if severities else None
    except OSError:  # no stderr at all
        saved = None
    if saved is None:
        yield
        return
    sys.stderr.flush()
    try:
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, severities, ABSL_PREFIX, NOTICE, NO_DRIVER, CUINIT_FAILED],
            stdin=subprocess.PIPE, stdout=saved, stderr=saved)
    except OSError:
        os.close(saved)
        yield
        return
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()  # fd 2 is now the pipe's only writer: restoring it ends the child's input
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # something started inside still holds the pipe: let it be
            pass


def import_tensorflow(without_keras: bool = False):
    """`import tensorflow` and its first device listing, without the start-up lines above. Returns the module.

    without_keras: TensorFlow's import also imports Keras (`keras.src.optimizers`, for the TF2 SavedModel
        registry, and `keras._tf_keras`), and Keras imports scikit-learn and matplotlib when they are
        installed: about 3 of the 9 s `import tensorflow` takes here. The model server runs SavedModels
        in TF1 Sessions and never uses Keras, so it passes True: those imports fail quietly during the
        import (TensorFlow catches them) and `tf.keras`, `import keras` work afterwards as usual.
    """
    blocked = [name for name in ("keras", "tf_keras") if without_keras and name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # an import of it raises ImportError
    try:
        with filtered_stderr():
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return tf
