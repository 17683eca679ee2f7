"""Runs TensorFlow Serving's own `tensorflow_model_server_test.py`, unedited, against `python -m serving`.

Started by tests/conformance/test_tfserving_suite.py in a process of its own (the Keras cases of the
upstream test need `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported, which the pytest process
must not have). Usage:

    TEST_SRCDIR=<tree> XML_OUTPUT_FILE=<report.xml> python upstream_runner.py <upstream_root> <skips.json>

<upstream_root> holds `tensorflow_serving/model_servers/...` (the copy in ../shared/tfserving);
<tree> is the temporary TEST_SRCDIR made by the pytest side (the server wrapper and a link to the
test data); <skips.json> maps case names to the reason they cannot run here. The cases are the
upstream module's own; this file only imports it, marks the skips and hands over to
`tf.test.main()`, which writes a JUnit XML report to $XML_OUTPUT_FILE.
"""

import json
import os
import sys
import unittest

upstream_root, skips_file = sys.argv[1], sys.argv[2]
del sys.argv[1:3]

import tensorflow_serving  # noqa: E402  (the installed tensorflow-serving-api: apis, config)

# The upstream test imports tensorflow_serving.model_servers.*, which the pip package lacks.
tensorflow_serving.__path__.append(os.path.join(upstream_root, "tensorflow_serving"))

from tensorflow_serving.model_servers import tensorflow_model_server_test as upstream  # noqa: E402

for case, reason in json.load(open(skips_file)).items():
    setattr(upstream.TensorflowModelServerTest, case,
            unittest.skip(reason)(getattr(upstream.TensorflowModelServerTest, case)))

TensorflowModelServerTest = upstream.TensorflowModelServerTest  # what tf.test.main() collects

if __name__ == "__main__":
    upstream.tf.enable_eager_execution()
    upstream.tf.test.main()
