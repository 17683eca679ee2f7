"""A training run killed with SIGKILL mid-epoch resumes from its last checkpoint, exactly."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

SCRIPT = r'''
import os, sys, time
import keras, numpy as np
import zoo
from zoo.data import load_digits

checkpoint_dir, output, stall_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

class StallAt(keras.callbacks.Callback):
    """Tell the parent we are at global step `stall_at` (mid-epoch), then wait to be killed."""
    def __init__(self):
        super().__init__()
        self.steps = 0
    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == stall_at:
            open(os.path.join(checkpoint_dir, "STALLED"), "w").close()
            time.sleep(600)

(x, y), _ = load_digits()
keras.utils.set_random_seed(0)
model = zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(32,), dropout=0.0)
history = zoo.fit(model, (x[:400], y[:400]), epochs=3, batch_size=16, optimizer="adam", checkpoint_dir=checkpoint_dir,
                  checkpoint_every=5, callbacks=[StallAt()] if stall_at else [], verbose=2)
print("FINAL_STEP", history.step, flush=True)
model.save_weights(output)
'''

STEPS_PER_EPOCH = 25  # 400 examples / 16


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run = lambda *args: [sys.executable, str(script), *map(str, args)]  # noqa: E731

    killed_dir = tmp_path / "killed"
    killed_dir.mkdir()
    victim = subprocess.Popen(run(killed_dir, tmp_path / "never.weights.h5", 37), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not (killed_dir / "STALLED").exists():
        assert victim.poll() is None, victim.communicate()[0][-3000:]
        assert time.time() < deadline, "the run never reached step 37"
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.weights.h5").exists()
    (killed_dir / "STALLED").unlink()

    resumed = subprocess.run(run(killed_dir, tmp_path / "resumed.weights.h5", 0), env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Step 37 is batch 12 of epoch 2; the last checkpoint before the kill was at step 35.
    assert "resumed from" in resumed.stdout and "step 35, epoch 2, batch 10" in resumed.stdout, resumed.stdout
    assert f"FINAL_STEP {3 * STEPS_PER_EPOCH}" in resumed.stdout
    assert "Epoch 1/3" not in resumed.stdout  # epoch 1 was not trained again

    fresh_dir = tmp_path / "fresh"
    fresh = subprocess.run(run(fresh_dir, tmp_path / "fresh.weights.h5", 0), env=env,
                           capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr[-3000:]

    import zoo

    def weights(name):
        model = zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(32,), dropout=0.0)
        model.load_weights(tmp_path / name)
        return model.get_weights()

    for a, b in zip(weights("resumed.weights.h5"), weights("fresh.weights.h5")):
        np.testing.assert_allclose(a, b, atol=1e-5)
