"""zoo.fit resumes from the newest checkpoint that restores, whatever happened to the newer ones.

A run of 3 epochs writes ckpt-4, ckpt-8 and ckpt-12 (4 steps per epoch) and the state file
`checkpoint`. Each test copies that folder, damages real files in it the way disks and killed
writers do, and resumes the same run: it must restore the newest intact checkpoint, say so in
exactly one warning line naming what was bad, and end with the weights of the uninterrupted run;
or, when checkpoints exist and none restores, raise CheckpointError instead of starting again
from step 0. (A SIGKILL alone never corrupted a checkpoint: tests/zoo/test_resume.py.)
"""

import logging
import shutil

import keras
import numpy as np
import pytest

import zoo
from zoo.data import load_digits

EPOCHS, STEPS_PER_EPOCH = 3, 4


def _mlp():
    keras.utils.set_random_seed(0)
    return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(16,), dropout=0.0)


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = load_digits()
    return x[:64], y[:64]


def _fit(model, data, checkpoint_dir, **kwargs):
    return zoo.fit(model, data, epochs=EPOCHS, batch_size=16, optimizer="adam", learning_rate=1e-2,
                   checkpoint_dir=checkpoint_dir, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def written(tmp_path_factory, digits):
    """(the folder of an uninterrupted run's checkpoints, that run's final weights)."""
    folder = tmp_path_factory.mktemp("written") / "checkpoints"
    model = _mlp()
    _fit(model, digits, folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint", "ckpt-12.data-00000-of-00001", "ckpt-12.index", "ckpt-4.data-00000-of-00001", "ckpt-4.index",
        "ckpt-8.data-00000-of-00001", "ckpt-8.index"]
    return folder, model.get_weights()


@pytest.fixture
def folder(written, tmp_path):
    copy = tmp_path / "checkpoints"
    shutil.copytree(written[0], copy)
    return copy


@pytest.fixture
def warning_lines(caplog):
    """The WARNING (and worse) lines logged while the test runs, by any logger."""
    caplog.set_level(logging.WARNING)
    return lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip_byte(path, at=0.5):
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def resume_and_check(folder, written, digits, warning_lines, *, bad: list[str], resumed_at: int, **kwargs):
    """Resume the run in `folder`; it must warn once, naming `bad`, and continue from step `resumed_at`."""
    model = _mlp()
    history = _fit(model, digits, folder, **kwargs)
    lines = warning_lines()
    assert len(lines) == 1, lines
    assert all(name in lines[0] for name in bad), lines[0]
    assert f"resuming from {folder / f'ckpt-{resumed_at}'}" in lines[0], lines[0]
    assert history.step == EPOCHS * STEPS_PER_EPOCH
    assert len(history.history.get("loss", [])) == EPOCHS - resumed_at // STEPS_PER_EPOCH  # not from step 0
    for a, b in zip(model.get_weights(), written[1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)  # the uninterrupted run's weights
    return lines[0]


# --- the newest checkpoint's files --------------------------------------------------------------


def test_truncated_index_file(folder, written, digits, warning_lines):
    truncate(folder / "ckpt-12.index")
    line = resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)
    assert "not an sstable" in line


def test_truncated_data_file(folder, written, digits, warning_lines):
    truncate(folder / "ckpt-12.data-00000-of-00001")
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)


def test_flipped_byte_in_the_data_file_fails_its_checksum(folder, written, digits, warning_lines):
    flip_byte(folder / "ckpt-12.data-00000-of-00001", at=0.3)
    line = resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)
    assert "Checksum does not match" in line


def test_flipped_byte_in_the_index_file(folder, written, digits, warning_lines):
    flip_byte(folder / "ckpt-12.index", at=0.5)
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)


def test_missing_data_file(folder, written, digits, warning_lines):
    (folder / "ckpt-12.data-00000-of-00001").unlink()
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)


def test_missing_index_file(folder, written, digits, warning_lines):
    (folder / "ckpt-12.index").unlink()  # a data file alone: a checkpoint whose writer died
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore"], resumed_at=8)


def test_two_newest_checkpoints_bad_falls_back_two_steps_in_one_line(folder, written, digits, warning_lines):
    truncate(folder / "ckpt-12.index")
    flip_byte(folder / "ckpt-8.data-00000-of-00001", at=0.3)
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12 does not restore", "ckpt-8 does not restore"],
                     resumed_at=4)


def test_fallback_under_mirrored_strategy(folder, written, digits, warning_lines):
    truncate(folder / "ckpt-12.data-00000-of-00001")
    strategy = zoo.training.resolve_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    model = _mlp()
    history = _fit(model, digits, folder, strategy=strategy)
    assert len(warning_lines()) == 1 and "ckpt-12 does not restore" in warning_lines()[0]
    assert history.step == 12 and len(history.history["loss"]) == 1
    for a, b in zip(model.get_weights(), written[1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


# --- the state file `checkpoint` ----------------------------------------------------------------


def test_garbage_state_file(folder, written, digits, warning_lines):
    (folder / "checkpoint").write_bytes(b"\x00\x17garbage {{{ not a proto \xff\n")
    resume_and_check(folder, written, digits, warning_lines, bad=["state file", "unreadable"], resumed_at=12)


def test_half_written_state_file_does_not_restart_from_step_zero(folder, written, digits, warning_lines):
    truncate(folder / "checkpoint", keep=0.4)  # cut in the middle of a line
    resume_and_check(folder, written, digits, warning_lines, bad=["state file", "unreadable"], resumed_at=12)


def test_empty_state_file(folder, written, digits, warning_lines):
    (folder / "checkpoint").write_text("")
    resume_and_check(folder, written, digits, warning_lines, bad=["state file", "empty"], resumed_at=12)


def test_state_file_naming_a_checkpoint_that_is_not_there(folder, written, digits, warning_lines):
    (folder / "checkpoint").write_text('model_checkpoint_path: "ckpt-99"\nall_model_checkpoint_paths: "ckpt-99"\n')
    resume_and_check(folder, written, digits, warning_lines, bad=["state file", "'ckpt-99', which is not in the folder"],
                     resumed_at=12)


def test_missing_state_file(folder, written, digits, warning_lines):
    (folder / "checkpoint").unlink()
    resume_and_check(folder, written, digits, warning_lines, bad=["state file", "missing"], resumed_at=12)


def test_a_repaired_folder_resumes_again_without_warnings(folder, written, digits, warning_lines):
    """After a fallback the state file names the intact checkpoints again, and the bad one is
    replaced when the run saves that step anew: a second resume is a plain one."""
    truncate(folder / "ckpt-12.index")
    resume_and_check(folder, written, digits, warning_lines, bad=["ckpt-12"], resumed_at=8)
    history = _fit(_mlp(), digits, folder)
    assert len(warning_lines()) == 1  # still only the first run's line
    assert history.step == 12 and history.history == {}


# --- nothing restores -----------------------------------------------------------------------


def test_no_checkpoint_restores_raises_instead_of_starting_again(folder, digits, warning_lines):
    for step in (4, 8, 12):
        truncate(folder / f"ckpt-{step}.index")
    model = _mlp()
    before = model.get_weights()
    with pytest.raises(zoo.CheckpointError) as raised:
        _fit(model, digits, folder)
    message = str(raised.value)
    assert all(f"ckpt-{step} (" in message for step in (4, 8, 12)), message
    assert "none of them restores" in message and "resume=False" in message and "Nothing was trained" in message
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_state_file_alone_raises_too(tmp_path, digits):
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-40"\n')  # its checkpoints were deleted
    with pytest.raises(zoo.CheckpointError, match="none of them restores: no checkpoint files"):
        _fit(_mlp(), digits, tmp_path)


def test_resume_false_starts_again_beside_a_broken_state_file(folder, digits):
    (folder / "checkpoint").write_text("")
    history = _fit(_mlp(), digits, folder, resume=False)
    assert len(history.history["loss"]) == EPOCHS
    assert 'model_checkpoint_path: "ckpt-12"' in (folder / "checkpoint").read_text()  # a valid state file again
