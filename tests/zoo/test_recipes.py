"""Training recipes as data (zoo.recipes): on every card, used by zoo.fit for what the user leaves unset."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import registry
from zoo.cards import ModelCard
from zoo.cli import main
from zoo.data import load_dataset
from zoo.recipes import Recipe
from zoo.training.budget import Budget


def _mlp():
    return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(16,), dropout=0.0)


def _digits(n):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, n)


class _Seen(keras.callbacks.Callback):
    """What the training loop trains with: optimizer class and learning rate per epoch end, weights."""

    def __init__(self, weights=False):
        super().__init__()
        self.keep_weights, self.lrs, self.weights, self.optimizer = weights, [], [], None

    def on_train_begin(self, logs=None):
        self.optimizer = self.model.optimizer

    def on_epoch_end(self, epoch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        if self.keep_weights:
            self.weights.append([np.array(w) for w in self.model.get_weights()])


def test_every_card_has_a_recipe_citing_its_source():
    names = registry.list_models()
    missing = [n for n in names if zoo.card(n).recipe is None or not zoo.card(n).recipe.source.strip()]
    assert not missing, f"cards without a recipe (or its source): {missing}"
    for name in names:  # the recipe survives the card's JSON form (card index, .keras files)
        card = zoo.card(name)
        assert ModelCard.from_dict(card.to_dict()) == card
    with pytest.raises(ValueError, match="source"):
        Recipe(source="")


def test_the_batch_size_rule_and_the_minimum_number_of_steps():
    ucr = zoo.card("conv1d").recipe
    assert [ucr.batch_size_for(n) for n in (5, 36, 50, 160, 1000)] == [1, 3, 5, 16, 16]  # int(min(n/10, 16))
    assert ucr.batch_rule() == "int(min(n/10, 16))"
    gin = zoo.card("gin").recipe
    assert gin.batch_size_for(36) == 32 and gin.epochs_for(steps_per_epoch=2) == 1000  # 2000 steps
    assert gin.epochs_for(steps_per_epoch=32) == 350


def test_gin_line_reads_as_the_paper():
    assert zoo.card("gin").recipe.summary("gin", epochs=350, batch_size=32) == (
        "recipe gin (Xu et al. 2019 §7): adam lr 0.01 halved every 50 epochs, 350 epochs, batch 32, keep best validation")


def test_fit_prints_the_recipe_line_and_uses_the_batch_rule(capsys):
    model = zoo.build("conv1d", num_classes=2, input_shape=(None, 1))
    x = np.random.default_rng(0).random((36, 24, 1), dtype=np.float32)
    seen = _Seen()
    history = zoo.fit(model, (x, np.arange(36) % 2), epochs=2, callbacks=[seen], verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("recipe conv1d (Wang et al. 2017 §3, FCN.py): adam lr 0.001 x0.5 after 50 epochs without a "
                        "lower loss (min 0.0001), 2 epochs, batch 3, keep best training loss, patience 200")
    assert history.step == 2 * 12  # 36 series in batches of int(min(3.6, 16)) = 3
    assert isinstance(seen.optimizer, keras.optimizers.Adam) and seen.lrs == pytest.approx([1e-3, 1e-3])


def test_arguments_the_user_passes_win(capsys):
    seen = _Seen()
    x, y = _digits(40)
    history = zoo.fit(_mlp(), (x, y), epochs=3, batch_size=20, optimizer="sgd", learning_rate=0.05, callbacks=[seen],
                      recipe=zoo.card("mlp").recipe.replace(schedule="step", schedule_args={"every": 1, "factor": 0.5}),
                      verbose=2)
    assert capsys.readouterr().out.splitlines()[0].startswith(
        "recipe mlp (keras examples/mnist_mlp.py; Adam (Kingma & Ba 2015)): sgd lr 0.05 halved every 1 epoch, "
        "3 epochs, batch 20")
    assert isinstance(seen.optimizer, keras.optimizers.SGD)
    assert seen.lrs == pytest.approx([0.05, 0.025, 0.0125])  # the recipe's schedule scales the user's rate
    assert len(history.history["loss"]) == 3 and history.step == 6
    # a schedule of the user's replaces the recipe's
    seen = _Seen()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.5)
    zoo.fit(_mlp(), (x, y), epochs=2, learning_rate=schedule, callbacks=[seen], verbose=0,
            recipe=zoo.card("mlp").recipe.replace(schedule="step", schedule_args={"every": 1, "factor": 0.1}))
    assert seen.lrs == pytest.approx([0.1 * 0.5 ** (2 / 1000), 0.1 * 0.5 ** (4 / 1000)], rel=1e-4)
    # and so does a learning-rate callback of the user's
    seen = _Seen()
    own = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.3 if epoch == 0 else lr / 3)
    zoo.fit(_mlp(), (x, y), epochs=3, callbacks=[own, seen], verbose=0,
            recipe=zoo.card("mlp").recipe.replace(schedule="step", schedule_args={"every": 1, "factor": 0.5}))
    assert seen.lrs == pytest.approx([0.3, 0.1, 0.1 / 3])


def test_a_model_without_a_card_keeps_the_plain_defaults(capsys):
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    seen = _Seen()
    history = zoo.fit(model, _digits(70), callbacks=[seen], verbose=2)
    out = capsys.readouterr().out
    assert "recipe" not in out and len(history.history["loss"]) == 1 and history.step == 3  # batch 32
    assert isinstance(seen.optimizer, keras.optimizers.Adam) and seen.lrs == pytest.approx([1e-3])
    assert history.kept_epoch is None


def test_too_few_examples_get_the_minimum_number_of_steps_and_the_time_limit_stops():
    recipe = Recipe(source="test", epochs=1, min_steps=20, batch_size=8)
    history = zoo.fit(_mlp(), _digits(16), recipe=recipe, verbose=0)
    assert len(history.history["loss"]) == 10 and history.step == 20  # 2 steps an epoch
    history = zoo.fit(_mlp(), _digits(16), epochs=50, time_limit=1e-6, recipe=recipe, verbose=0)
    assert len(history.history["loss"]) == 1
    with pytest.raises(zoo.InvalidArgumentError, match="time_limit"):
        zoo.fit(_mlp(), _digits(16), time_limit=0, verbose=0)


def test_plateau_halves_down_to_its_floor():
    model = _mlp()
    optimizer = keras.optimizers.Adam(0.1)
    recipe = Recipe(source="test", schedule="plateau", schedule_args={"factor": 0.5, "patience": 2, "min_lr": 0.03})
    budget = Budget(recipe, epochs=10, optimizers=[optimizer], schedule=True, has_validation=False, time_limit=None,
                    strategy=tf.distribute.get_strategy())
    lrs = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.95]):
        assert not budget.end_epoch(epoch, {"loss": loss}, model)
        lrs.append(float(optimizer.learning_rate))
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03])


def _stopping_epoch(recipe, losses):
    """The epoch at which a Budget of `recipe` stops on these validation losses (None: never)."""
    budget = Budget(recipe, epochs=len(losses), optimizers=[], schedule=False, has_validation=True,
                    time_limit=None, strategy=tf.distribute.get_strategy())
    for epoch, loss in enumerate(losses):
        if budget.end_epoch(epoch, {"loss": 0.0, "val_loss": loss}, _mlp()):
            return epoch
    return None


def test_window_rule_stops_as_kipf_and_wellings_code():
    """GCN's train.py: stop at the epoch whose validation loss exceeds the mean of the `patience` before it
    (after at least that many); "patience" stops `patience` epochs after the lowest value."""
    window = Recipe(source="test", keep="last", patience=3, stop="window")
    losses = [1.0, 0.8, 0.9, 0.85, 0.84, 0.84, 0.9]  # each under the mean of the 3 before, until 0.9 > 0.843
    assert _stopping_epoch(window, losses) == 6
    assert _stopping_epoch(window, [0.9, 0.5, 2.0]) is None  # fewer than 3 epochs before: no rule yet
    assert _stopping_epoch(window.replace(stop="patience"), losses) == 4  # 0.8 at epoch 1, 3 epochs without
    assert "exceeds its mean of the 3 epochs before" in window.summary("gcn")
    with pytest.raises(ValueError, match="stop must be one of"):
        Recipe(source="test", stop="sometimes")


def test_early_stopping_on_gunpoint_restores_the_best_weights():
    train, test = load_dataset("gunpoint")
    model = zoo.build("conv1d", num_classes=2, input_shape=(None, 1), filters=(16, 32, 16))
    recipe = zoo.card("conv1d").recipe.replace(learning_rate=0.02, epochs=25, patience=3, keep="best_validation")
    seen = _Seen(weights=True)
    history = zoo.fit(model, train, validation_data=test, recipe=recipe, callbacks=[seen], verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert history.kept_epoch == best
    assert len(val) == 25 or len(val) == best + 3 + 1  # stopped 3 epochs after the best
    assert best < len(val) - 1, "the test needs a run whose last epoch is not its best"
    for kept, trained in zip(model.get_weights(), seen.weights[best]):
        np.testing.assert_array_equal(kept, trained)
    assert zoo.evaluate(model, test)["loss"] == pytest.approx(val[best], rel=1e-4)


class _Interrupted(Exception):
    pass


class _InterruptAt(keras.callbacks.Callback):
    """Raises at the start of epoch `epoch`: the run stops there, with the checkpoint of the epoch before."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupted(epoch)


def test_a_resumed_run_keeps_the_best_weights_and_the_patience_of_its_first_part(tmp_path):
    """Interrupted after its best epoch and resumed from the checkpoint, a run ends as one that ran
    through: same stopping epoch, same kept epoch and weights (the recipe's state is checkpointed)."""
    x, y = _digits(64)
    val_x, val_y = _digits(32)[0], np.random.default_rng(1).integers(0, 10, 32)  # random labels: val loss rises
    recipe = Recipe(source="test", optimizer="adam", learning_rate=0.01, epochs=40, batch_size=16,
                    keep="best_validation", patience=4, schedule="plateau", schedule_args={"factor": 0.5, "patience": 2})

    def run(folder, callbacks=()):
        keras.utils.set_random_seed(0)
        model = _mlp()
        history = zoo.fit(model, (x, y), validation_data=(val_x, val_y), recipe=recipe, checkpoint_dir=folder,
                          callbacks=list(callbacks), seed=0, verbose=0)
        return model, history

    straight_model, straight = run(tmp_path / "straight")
    epochs = len(straight.history["loss"])
    interrupt = straight.kept_epoch + 2  # after the best epoch, before patience runs out
    assert epochs < 40 and interrupt < epochs, (straight.kept_epoch, epochs)
    with pytest.raises(_Interrupted):
        run(tmp_path / "resumed", [_InterruptAt(interrupt)])
    resumed_model, resumed = run(tmp_path / "resumed")
    assert resumed.kept_epoch == straight.kept_epoch
    assert interrupt + len(resumed.history["loss"]) == epochs
    for a, b in zip(straight_model.get_weights(), resumed_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_checkpoints_without_the_recipe_state_or_its_weights_still_resume(tmp_path):
    """A checkpoint written before the recipe state existed restores (counters start afresh); one of a
    run that kept the last weights, resumed by one that keeps the best, looks for the best anew."""
    from zoo.training.checkpoints import Checkpoints, TrainingState

    strategy, model = tf.distribute.get_strategy(), _mlp()

    def budget(keep):
        return Budget(Recipe(source="test", keep=keep), epochs=3, optimizers=[], schedule=False, has_validation=True,
                      time_limit=None, strategy=strategy, model=model)

    def checkpoints(state=None):
        optional = {} if state is None else {"budget": state.parts()}
        return Checkpoints(tmp_path, strategy, state=TrainingState(), model=model, optional=optional)

    checkpoints().save(step=5, epoch=1, batch_in_epoch=0)  # no recipe state in it
    best = budget("best_validation")
    restoring = checkpoints(best.state)
    restoring.restore_latest()
    best.load_state()
    assert int(restoring.state.step.numpy()) == 5 and best.best == math.inf and best.best_epoch is None

    last = budget("last")
    assert not last.end_epoch(1, {"loss": 1.0, "val_loss": 0.5}, model)
    last.save_state()
    checkpoints(last.state).save(step=9, epoch=2, batch_in_epoch=0)
    best = budget("best_validation")
    checkpoints(best.state).restore_latest()
    best.load_state()
    assert best.best_epoch is None and best.best_weights is None  # no weights of epoch 1 to go back to
    last = budget("last")
    checkpoints(last.state).restore_latest()
    last.load_state()
    assert last.best_epoch == 1 and last.best == 0.5 and last.history == [0.5]


def test_zoo_info_shows_the_recipe(capsys):
    assert main(["info", "conv1d"]) == 0
    lines = {line[:18].strip(): line[19:] for line in capsys.readouterr().out.splitlines()}
    assert lines["recipe"] == ("adam lr 0.001 x0.5 after 50 epochs without a lower loss (min 0.0001), 2000 epochs, "
                               "batch int(min(n/10, 16)), keep best training loss, patience 200")
    assert lines["recipe source"] == "Wang et al. 2017 §3, FCN.py"
    assert "zoo's addition" in lines["recipe notes"]
    assert main(["info", "gin"]) == 0
    assert "350 epochs (at least 2000 steps), batch 32" in capsys.readouterr().out
