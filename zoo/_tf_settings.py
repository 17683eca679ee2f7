"""The TensorFlow settings `import zoo` chooses for training, as environment variables TensorFlow reads
at start-up (no TensorFlow import here).

| variable | zoo's value | TensorFlow's default here | why |
| --- | --- | --- | --- |
| `TF_CPP_MIN_LOG_LEVEL` | `2` | `0` | no C++ info lines (errors still show) |
| `TF_CPU_ALLOCATOR_USE_BFC` | `true` | malloc | freed CPU buffers are kept for the next step instead of page-faulting fresh ones in every step |
| `TF_ENABLE_ONEDNN_OPTS` | `1` | on only for Intel CPUs with AVX-512 VNNI / AMX | oneDNN's matmul, convolution, batch-norm and RNN kernels |

A variable the user set is left alone (`TF_ENABLE_ONEDNN_OPTS=0`, `TF_CPU_ALLOCATOR_USE_BFC=false`
give TensorFlow's own behaviour). TensorFlow reads them when it is imported (oneDNN) or makes its
first CPU tensor (the pool), so they apply to a process that imports zoo before TensorFlow.

Measured on the development machines (AMD EPYC, 2 cores, AVX2, where TensorFlow keeps oneDNN off):
one training step (forward, backward, Adam) with oneDNN against without, same process settings otherwise:

| model, input, batch | without | with oneDNN |
| --- | --- | --- |
| resnet18, 64x64x3, 32 | 1758 ms | 703 ms |
| densenet121, 64x64x3, 16 | 864 ms | 584 ms |
| lenet5, 32x32x1, 64 | 24.1 ms | 14.7 ms |
| lstm, 100 steps x 3, 32 | 203 ms | 104 ms |
| gru, 100 steps x 3, 32 | 147 ms | 124 ms |
| transformer, 64 x 8, 32 | 380 ms | 289 ms |
| convlstm, 8 x 16x16x1, 8 | 4992 ms | 3411 ms |
| conv1d, 150 x 1, 16 | 69 ms | 75 ms |
| gin, PROTEINS merged (43,471 nodes), full batch | 450-510 ms | 250-300 ms |

oneDNN is not faster everywhere: a one-example call of an exported lenet5 took 0.58 ms without it and
1.71 ms with it (benchmarks/serving.py, in-process rows), which is one reason the model server keeps
TensorFlow's standard kernels.

The pool: a GraphSAGE step on the merged PROTEINS batch 137 -> 60 ms, GCN on CiteSeer 140 -> 87 ms.
Both keep memory: the process holds its peak working set (the pool's limit is
`TF_CPU_BFC_MEM_LIMIT_IN_MB`, 64 GB by default), and `tf.config.experimental.get_memory_info("CPU:0")`
reports current and peak bytes.

The names zoo set go in `ZOO_SET_TF_SETTINGS` (comma-separated): the model server (`serving.cli`),
which a zoo process may start, removes those and keeps the memory-returning defaults of a server.
"""

from __future__ import annotations

import os

TRAINING_SETTINGS = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_CPU_ALLOCATOR_USE_BFC": "true",
    "TF_ENABLE_ONEDNN_OPTS": "1",
}
MARKER = "ZOO_SET_TF_SETTINGS"


def apply(environ=os.environ) -> list[str]:
    """Set each of TRAINING_SETTINGS that `environ` lacks; record their names in MARKER. Returns them."""
    chosen = [name for name in TRAINING_SETTINGS if name not in environ]
    for name in chosen:
        environ[name] = TRAINING_SETTINGS[name]
    recorded = [n for n in environ.get(MARKER, "").split(",") if n]
    environ[MARKER] = ",".join(dict.fromkeys(recorded + chosen))
    return chosen
