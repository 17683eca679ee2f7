"""Giving the memory of a big request back to the system once it is answered.

A request's tensors live in glibc's heap (protobuf's parse, numpy's copies, TensorFlow's CPU
allocator). Freed, they stay resident in the heap's arenas: after 48 MB requests the server kept
+40..75 MB (measured, tests/serving/test_server_command_line.py). Two things give it back:

- `configure_allocator()` (at start-up): freed blocks of 1 MiB and more go back at once (a fixed
  mmap threshold instead of glibc's adaptive one, which grows to 32 MiB after big frees and then
  keeps a large request's tensors in the heap).
- `after_request(num_bytes)`: after a request of `BIG_REQUEST_BYTES` or more, `malloc_trim(0)` runs on
  a background thread shortly after (when the request's objects have been freed), at most one
  pending at a time: RSS returns to its level before the request (670 MB -> 668 MB, measured).

TensorFlow's oneDNN allocator pools memory itself (a BFC allocator that never returns it); the
server runs the standard kernels unless TF_ENABLE_ONEDNN_OPTS=1 (see serving.cli).
On other C libraries than glibc, both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

BIG_REQUEST_BYTES = 8 << 20
TRIM_DELAY_SECONDS = 0.25  # the request and response objects are freed by then

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_lock = threading.Lock()
_pending = False


def _libc():
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _libc()


def configure_allocator() -> None:
    """Freed blocks of 1 MiB and more are returned to the system at once; the heap top is trimmed above 4 MiB."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 4 << 20)


def after_request(num_bytes: int) -> None:
    """Schedule a heap trim if a request of `num_bytes` (its serialized size) was big; cheap otherwise."""
    global _pending
    if _LIBC is None or num_bytes < BIG_REQUEST_BYTES:
        return
    with _lock:
        if _pending:
            return
        _pending = True
    timer = threading.Timer(TRIM_DELAY_SECONDS, _trim)
    timer.daemon = True
    timer.start()


def _trim() -> None:
    global _pending
    with _lock:
        _pending = False
    _LIBC.malloc_trim(0)
