"""TensorFlow Serving's own model-server test, run unedited against `python -m serving`.

The upstream integration test (`tensorflow_serving/model_servers/tensorflow_model_server_test.py`
from tensorflow/serving, copied unchanged into ../shared/tfserving with its test SavedModels) starts
`$TEST_SRCDIR/tf_serving/tensorflow_serving/model_servers/tensorflow_model_server` with the binary's
command lines and talks to it with TF Serving's own stubs and REST calls. Here that path is a
two-line wrapper that execs `python -m serving` with exactly those arguments (plus `--host=127.0.0.1`,
so the servers listen on loopback only), and the test data is a link to the upstream copy.

The suite runs once, in a process of its own (`upstream_runner.py`: the Keras cases need
`TF_USE_LEGACY_KERAS=1` before TensorFlow is imported), and each upstream case is reported here as a
test of its own. Cases that need what cannot exist on this machine are skipped, each with its reason
(SKIPS below); every other case must pass.

The upstream copy is found at ../shared/tfserving (developers and CI) or $ZOO_TFSERVING_SUITE; the
tests skip when neither exists (users do not have it).
"""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
UPSTREAM = Path(os.environ.get("ZOO_TFSERVING_SUITE") or HERE.parents[2] / "shared" / "tfserving")
TEST_FILE = UPSTREAM / "tensorflow_serving" / "model_servers" / "tensorflow_model_server_test.py"
TESTDATA = UPSTREAM / "tensorflow_serving" / "servables" / "tensorflow" / "testdata"
SUITE_TIMEOUT = 900  # seconds for the whole upstream run (it takes about two minutes here)

SKIPS = {
    "test_tf_text": "the tf_text_regression model's saved_model.pb is not in the upstream copy (and its "
                    "ops need the tensorflow-text package)",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEST_FILE.is_file(), reason=f"TF Serving's test suite not found at {UPSTREAM}"),
]


def upstream_cases() -> list[str]:
    """The test methods of the upstream TensorflowModelServerTest, read from its source."""
    if not TEST_FILE.is_file():
        return []
    tree = ast.parse(TEST_FILE.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "TensorflowModelServerTest":
            return [f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test")]
    raise AssertionError(f"no TensorflowModelServerTest class in {TEST_FILE}")


def _source_tree(root: Path) -> Path:
    """The TEST_SRCDIR the upstream base class expects: the server wrapper and the test data."""
    serving_root = root / "tf_serving" / "tensorflow_serving"
    binary = serving_root / "model_servers" / "tensorflow_model_server"
    binary.parent.mkdir(parents=True)
    binary.write_text(
        "#!/bin/sh\n"
        "# tensorflow_model_server for TF Serving's own test: our server, same arguments, loopback only.\n"
        f"exec env -u TF_USE_LEGACY_KERAS '{sys.executable}' -m serving --host=127.0.0.1 \"$@\"\n"
    )
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (serving_root / "servables" / "tensorflow").mkdir(parents=True)
    (serving_root / "servables" / "tensorflow" / "testdata").symlink_to(TESTDATA, target_is_directory=True)
    return root


def _results(report: Path) -> dict:
    """{case: ("passed" | "failed" | "skipped", text)} from the JUnit XML that absltest writes, for the
    upstream module's own cases (not the ones tf.test.TestCase itself defines, e.g. test_session)."""
    results = {}
    cases = set(upstream_cases())
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.get("name") not in cases:
            continue
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            results[case.get("name")] = ("failed", (failure.get("message") or "") + "\n" + (failure.text or ""))
        elif case.get("result") == "suppressed" or case.find("skipped") is not None:
            results[case.get("name")] = ("skipped", case.get("message") or "")
        else:
            results[case.get("name")] = ("passed", "")
    return results


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Runs the whole upstream suite once; returns (results by case, the run's output)."""
    work = tmp_path_factory.mktemp("tfserving")
    tree = _source_tree(work / "srcdir")
    skips = work / "skips.json"
    skips.write_text(json.dumps(SKIPS))
    report = work / "report.xml"
    env = dict(os.environ, TEST_SRCDIR=str(tree), XML_OUTPUT_FILE=str(report), TF_USE_LEGACY_KERAS="1",
               TEST_TMPDIR=str(work / "tmp"), TF_CPP_MIN_LOG_LEVEL="2")
    (work / "tmp").mkdir()
    run = subprocess.run(
        [sys.executable, str(HERE / "upstream_runner.py"), str(UPSTREAM), str(skips)],
        env=env, cwd=work, capture_output=True, text=True, timeout=SUITE_TIMEOUT,
    )
    output = run.stdout + run.stderr
    if not report.is_file():
        pytest.fail(f"the upstream suite wrote no report (exit {run.returncode}):\n{output[-6000:]}")
    return _results(report), output


@pytest.mark.parametrize("case", upstream_cases())
def test_upstream_case(suite, case):
    results, output = suite
    assert case in results, f"{case} did not run:\n{output[-4000:]}"
    status, text = results[case]
    if case in SKIPS:
        assert status == "skipped", f"{case} is listed as impossible here but ran: {status}"
        pytest.skip(SKIPS[case])
    assert status == "passed", f"{case} {status}:\n{text[-4000:]}"


def test_every_upstream_case_is_accounted_for(suite):
    """All 30 upstream cases ran; the only skips are the listed ones."""
    results, _ = suite
    assert sorted(results) == sorted(upstream_cases())
    assert {c for c, (status, _) in results.items() if status == "skipped"} == set(SKIPS)
