"""`zoo.fit`: one distributed training step for every strategy, checkpoints, resume, progress.

The step is the project's own (DESIGN.md fact 2: Keras 3 `Model.fit` fails under
MultiWorkerMirroredStrategy): `strategy.run` over a distributed dataset, the loss summed per
replica and divided by the global batch size (or the global sum of sample weights), gradients
all-reduced by the Keras optimizer, loss and accuracy sums reduced across replicas. One device,
mirrored devices, several workers and TPUs all go through this same code path.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from layers.message_passing import count_graphs
from zoo.data.graphs import EDGE_INDEX, GRAPH_BATCH_KEYS, NODE_GRAPH_IDS, shard_graph_batch
from zoo.errors import InvalidArgumentError, ZooError
from zoo.training.budget import Budget, fill_in, recipe_of
from zoo.training.checkpoints import Checkpoints, TrainingState
from zoo.training.data import TrainingData, check_labels
from zoo.training.edge_features import match as match_edge_features
from zoo.training.image_folders import bind as bind_image_folders
from zoo.training.sources import DataSource, read_source
from zoo.training.precision import rebuild_with_policy
from zoo.training.preprocessing import adapt as adapt_preprocessing
from zoo.training.strategies import is_chief, resolve_strategy
from zoo.training.user_objects import make_loss, make_metrics, make_optimizer, optimizer_like


def fit(
    model: keras.Model,
    data,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_data=None,
    validation_split: float | None = None,
    optimizer=None,
    learning_rate=None,
    backbone_learning_rate=None,
    loss=None,
    metrics=None,
    augment=None,
    cache=False,
    on_bad_file: str = "error",
    strategy="auto",
    mixed_precision: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    callbacks: list | None = None,
    log_dir: str | os.PathLike | None = None,
    verbose: int = 1,
    seed: int = 0,
    time_limit: float | None = None,
    recipe="card",
) -> keras.callbacks.History:
    """Train `model` in place on `data` under a tf.distribute strategy.

    A model with a card (from `zoo.build`) is trained with its card's recipe (`zoo.card(name).recipe`,
    see `zoo.recipes.Recipe`) for every argument left unset (None): epochs, batch size, optimizer,
    learning rate and schedule, weight decay, image augmentation, early stopping, which weights to
    keep; `fit` prints one line saying what it uses. An argument passed always wins. A model without
    a card (a user's own Keras model) keeps the plain defaults: 1 epoch, batch 32, Adam 1e-3, the last
    weights (`zoo.recipes.DEFAULT`).

    Args:
        model: a Keras model (e.g. from `zoo.build`). Its weights are updated in place; when the
            strategy or `mixed_precision` needs it, a copy is trained under the strategy's scope
            and the weights are copied back at the end. Preprocessing layers of the model that
            were never adapted (the recurrent models' `standardize`) get the statistics of the
            training data first (see `zoo.training.preprocessing`).
        data: any form `zoo.training.sources` reads: a `tf.data.Dataset` of `(inputs, labels)` or
            `(inputs, labels, sample_weights)` batches; a tuple `(x, y)` of arrays (x may be a dict);
            `(graph_dict or networkx graph, node_labels)`; `(list of graphs, graph_labels)`;
            `(list of series, labels)`; a `zoo.data` set (TimeSeriesData, NodeClassificationData,
            GraphClassificationData); or a path (image folder, `.npz`, `.ts`, Planetoid `.npz`, GIN
            text file). Graph batches are split between replicas by whole graphs; a single graph
            goes whole to each replica.
            An image folder (one sub-folder per class: JPEG, PNG, GIF, BMP, WebP files of any
            size) is streamed: decoded as it is read, resized (bilinear) to the model's input
            size and converted to its channels, pixels scaled to 0..1 (see
            `zoo.training.image_folders`). Its sub-folder names become `model.zoo_class_names`
            (which `zoo.export` writes) when the model has none; labels follow the model's class
            names when it has some.
        validation_data: same forms as `data`; evaluated at each epoch end. A `.ts` or GIN text
            file is encoded as `data` was (labels through its class names; node tags and labels
            through its vocabulary, `tag_values` / `label_values`); a `zoo.data` set with another
            vocabulary is an error. Default: the split the data itself defines, if any (a
            Planetoid graph's val nodes), else none.
        validation_split: with an image folder as `data`: this fraction of each class's files
            (chosen with `seed`) is validated on instead of trained on.
        epochs: the number of epochs. Default: the recipe's, raised so that training makes at least
            its `min_steps` optimizer steps; early stopping (the recipe's `patience`) and
            `time_limit` may end it sooner.
        batch_size: the GLOBAL batch size for arrays and paths (split across replicas). Default: the recipe's rule of the training-set size n
            (e.g. int(min(n/10, 16)) for conv1d), else 32.
        optimizer: default: the recipe's (with its hyper-parameters and weight decay), else "adam".
            A name ("adam", "sgd", "adamw", ...) or a `keras.optimizers.Optimizer` class
            or instance not used yet, e.g. `keras.optimizers.AdamW(schedule, weight_decay=0.05)`
            created beforehand. An instance created outside the strategy's scope (the usual case)
            is rebuilt inside it from its config (same class, schedule and hyper-parameters) and
            is left untouched; one created inside `strategy.scope()` is trained as is.
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`, for an
            optimizer given by name or class (an instance keeps its own). Default: the recipe's,
            else 1e-3. The recipe's schedule (step, plateau, cosine, linear) scales a float learning
            rate, the user's too; a schedule or an optimizer instance passed replaces it.
        backbone_learning_rate: when given, the backbone (every layer but the head, see
            `zoo.finetune.head_layer_names`) trains with this learning rate and its own optimizer
            of the same kind and hyper-parameters, the head with `learning_rate` (or the instance's own).
        loss: a Keras loss (name, `keras.losses.Loss` object or function `f(y_true, y_pred)`).
            Default: sparse categorical cross-entropy, from logits unless the model ends in a softmax.
        metrics: more metrics to report besides "loss" and "accuracy": names ("mae", "auc"),
            `keras.metrics.Metric` objects or classes, or functions (see
            `zoo.training.user_objects.make_metrics`). Reported per epoch in the history under each
            metric's name (and "val_" + name); objects passed are rebuilt, not updated in place.
        augment: default: the recipe's image augmentations (random crop, horizontal flip) when it
            has any, False for none. A Keras layer or callable applied to each training batch's inputs in the
            input pipeline (with `training=True`), e.g. `keras.Sequential([layers.RandomTranslation(.1, .1)])`.
            Batches are augmented one at a time, in order, so random layers with a seed give the
            same augmentation on every run.
        cache: an image folder as `data` (and its `validation_split`) only: False (decode every
            epoch), True (decode once and keep the resized images in memory, uint8) or a folder
            path (keep them on disk, reused by later runs while the image files are unchanged).
        on_bad_file: image folders only: "error" (default) raises `zoo.InvalidArgumentError` naming
            a file that cannot be read (empty, not an image, damaged); "skip" leaves such files out
            and says how many and which in one warning line. Headers are checked before training;
            a file damaged past its header is found when its batch is read.
        strategy: "auto", "one_device", "mirrored", "multiworker", "tpu" or a
            `tf.distribute.Strategy` (see `zoo.training.resolve_strategy`).
        mixed_precision: None, "mixed_float16" (with dynamic loss scaling) or "mixed_bfloat16".
        checkpoint_dir: where `tf.train.CheckpointManager` keeps checkpoints of the model, the
            optimizer, the step and the position in the epoch (the three newest), and of the
            recipe's state: the best value and weights so far, the patience and plateau counters,
            the training time spent (a resumed run stops and keeps weights as one that ran through).
        checkpoint_every: also checkpoint every N steps (besides each epoch end).
        resume: continue from the newest checkpoint in `checkpoint_dir` that restores. A
            corrupted newest one (truncated, bad checksum, missing file, unreadable state file) is
            reported in one warning line and the one before it is used; if checkpoints exist and
            none restores, `zoo.CheckpointError` is raised (see `zoo.training.checkpoints`).
        callbacks: Keras callbacks (e.g. `keras.callbacks.EarlyStopping`, `LearningRateScheduler`);
            they see the model being trained (a copy in the strategy's scope, when one is needed)
            with its optimizer as `model.optimizer` during the call.
        log_dir: write TensorBoard scalars (loss, accuracy, learning rate) there.
        verbose: 0 quiet, 1 a progress bar per epoch (steps, loss, accuracy, examples/s, ETA),
            2 one line per epoch.
        seed: shuffling seed of arrays and paths (same seed, same order: what makes resume exact).
        time_limit: stop at the first epoch end after this many seconds (default: the recipe's, none).
        recipe: "card" (default: the model card's recipe), None (the plain defaults above, no
            schedule, no early stopping), or a `zoo.recipes.Recipe`, e.g.
            `zoo.card("gin").recipe.replace(patience=20)`. When the recipe keeps the best weights
            ("best_validation": lowest validation loss, lowest training loss without validation
            data; "best_training_loss"), the model ends with the weights of that epoch
            (`history.kept_epoch`, 0-based; None when the last are kept). Early stopping, the
            plateau schedule and the kept weights are not checkpointed: a resumed run starts them anew.

    Returns:
        a `keras.callbacks.History` whose `history` has "loss", "accuracy", the `metrics` (and
        "val_loss", "val_accuracy", "val_" + each metric) per epoch trained in this call.

    Raises:
        InvalidArgumentError: a bad argument, before anything is trained.
        CheckpointError: `checkpoint_dir` holds checkpoints and none of them restores.
    """
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise InvalidArgumentError(f"epochs must be an integer >= 1, got {epochs!r}")
    if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(time_limit, (int, float))
                                   or time_limit <= 0):
        raise InvalidArgumentError(f"time_limit must be a number of seconds > 0 or None, got {time_limit!r}")
    name, recipe = recipe_of(model, recipe)
    if checkpoint_every is not None and (not isinstance(checkpoint_every, int) or checkpoint_every < 1):
        raise InvalidArgumentError(f"checkpoint_every must be an integer >= 1 or None, got {checkpoint_every!r}")
    strategy = resolve_strategy(strategy)
    data, validation_data = bind_image_folders(model, data, validation_data, validation_split=validation_split,
                                               cache=cache, on_bad_file=on_bad_file, seed=seed, verbose=verbose)
    read = read_source(data, name="data")
    source = match_edge_features(model, read)  # another source when it leaves the data's edge features out
    _check_source_labels(model, source)
    _adopt_class_names(model, source)
    args = fill_in(recipe, model, source, batch_size=batch_size, epochs=epochs, optimizer=optimizer,
                   learning_rate=learning_rate, augment=augment, time_limit=time_limit, seed=seed)
    train, epochs, optimizer, learning_rate = args.train, args.epochs, args.optimizer, args.learning_rate
    batch_size, augment, time_limit, scheduled = args.batch_size, args.augment, args.time_limit, args.scheduled
    if name is not None and verbose and is_chief(strategy):
        print(args.summary(recipe, name), flush=True)
    adapt_preprocessing(model, train, verbose=verbose if is_chief(strategy) else 0)
    validation = None
    if validation_data is None and source.validation is not None:  # the data's own split (Planetoid's val)
        validation_data = source.validation
    if validation_data is not None:
        validation_source = match_edge_features(
            model, read_source(validation_data, name="validation_data", training=source), "validation_data",
            warn=source is read)
        _check_source_labels(model, validation_source)
        validation = validation_source.training_data(batch_size, False, 0)

    with strategy.scope():
        work_model = _model_in_scope(model, strategy, mixed_precision)
        opt = make_optimizer(optimizer, learning_rate, strategy, mixed_precision)
        groups = _variable_groups(model, work_model, opt, backbone_learning_rate, mixed_precision)
        loss_fn = make_loss(loss, work_model, label_smoothing=recipe.label_smoothing)
        trainer = _Trainer(work_model, groups, loss_fn, strategy,
                           metrics=make_metrics(metrics), eval_metrics=make_metrics(metrics))
        state = TrainingState()
        optimizers = {"optimizer" if i == 0 else f"optimizer_{i}": o for i, (o, _) in enumerate(groups)}
        budget = Budget(recipe, epochs=epochs, optimizers=[o for o, _ in groups], schedule=scheduled,
                        has_validation=validation is not None, time_limit=time_limit, strategy=strategy,
                        model=None if checkpoint_dir is None else work_model)
        checkpoints = Checkpoints(checkpoint_dir, strategy, model=work_model, state=state,
                                  optional={"budget": budget.state.parts()}, **optimizers)
    if resume:
        checkpoints.restore_latest(verbose)
        budget.load_state()
    with _optimizer_attribute(work_model, opt):
        history = _train(work_model, trainer, checkpoints, train, validation, epochs=epochs, augment=augment,
                         checkpoint_every=checkpoint_every, callbacks=callbacks, log_dir=log_dir, verbose=verbose,
                         budget=budget)
    history.kept_epoch = budget.finish(work_model)
    if history.kept_epoch is not None and verbose and is_chief(strategy):
        print(f"kept the weights of epoch {history.kept_epoch + 1} (lowest {budget.monitor} {budget.best:.4f})",
              flush=True)
    if work_model is not model:
        model.set_weights(work_model.get_weights())
    history.set_model(model)
    return history


def _train(work_model, trainer, checkpoints, train, validation, *, epochs, augment, checkpoint_every, callbacks,
           log_dir, verbose, budget):
    """The epochs of `fit`, from the position in `checkpoints.state`; returns the History."""
    strategy, state = trainer.strategy, checkpoints.state
    opt = trainer.groups[0][0]

    def save(**position):
        """Checkpoint at `position`, with the recipe's state as of the last epoch end (best, patience, plateau)."""
        if checkpoints.directory is not None:
            budget.save_state()
        checkpoints.save(**position)

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [history, *(callbacks or [])], model=work_model, epochs=epochs, steps=train.steps_per_epoch, verbose=0
    )
    work_model.stop_training = False
    writer = tf.summary.create_file_writer(os.fspath(log_dir)) if log_dir and is_chief(strategy) else None

    callback_list.on_train_begin()
    # Counters live in Python on the hot path; the checkpointed variables are written only when saving.
    start_epoch, step, skip = (int(v.numpy()) for v in (state.epoch, state.step, state.batch_in_epoch))
    stream = _Stream.of(train, strategy, start_epoch, epochs, skip=skip, augment=augment)
    validation_stream = None if validation is None else _Stream.of(validation, strategy, 0, epochs - start_epoch)
    for epoch in range(start_epoch, epochs):
        budget.begin_epoch(epoch)
        callback_list.on_epoch_begin(epoch)
        progress = _Progress(epoch, epochs, train.steps_per_epoch, skip, verbose if is_chief(strategy) else 0)

        def epoch_batches(first, epoch=epoch):
            """The distributed batches of this epoch from batch `first` on."""
            dataset = train.make(epoch)
            if first:
                dataset = dataset.skip(first)
            if augment is not None:
                # One batch at a time: random layers draw from one generator state, and parallel
                # calls would take those draws in a different order on every run. Prefetching
                # overlaps it with the training step.
                dataset = dataset.map(_augmenter(augment)).prefetch(tf.data.AUTOTUNE)
            return _distribute(strategy, dataset)

        sums = np.zeros(3)
        batch_index = skip
        if stream is not None:
            batches, epoch_reader = stream.batches, stream.epoch(skip)
        else:
            batches = epoch_batches(skip)
            epoch_reader = _read(train, epoch, skip, batches, epoch_batches)
        train_step = trainer.train_step(batches)
        trainer.reset_metrics(trainer.metrics)
        for batch in epoch_reader:
            callback_list.on_train_batch_begin(batch_index)
            batch_sums = train_step(batch)
            sums += batch_sums
            step += 1
            progress.update(sums, batch_sums[2])
            if checkpoint_every and step % checkpoint_every == 0:
                save(step=step, epoch=epoch, batch_in_epoch=batch_index + 1)
            callback_list.on_train_batch_end(batch_index, _logs(batch_sums))
            batch_index += 1
            if work_model.stop_training:
                break
        skip = 0
        logs = {**_logs(sums), **trainer.metric_results(trainer.metrics)}
        if validation is not None:
            logs.update({f"val_{k}": v for k, v in evaluate_data(trainer, validation, validation_stream).items()})
        progress.finish(logs)
        if writer is not None:
            with writer.as_default(step=step):
                for key, value in logs.items():
                    tf.summary.scalar(key, value)
                tf.summary.scalar("learning_rate", float(keras.ops.convert_to_numpy(opt.learning_rate)))
            writer.flush()
        callback_list.on_epoch_end(epoch, logs)
        stop = budget.end_epoch(epoch, logs, work_model)
        save(step=step, epoch=epoch + 1, batch_in_epoch=0)
        if stop or work_model.stop_training:
            break
    callback_list.on_train_end()
    history.step = step
    return history


@contextlib.contextmanager
def _optimizer_attribute(model, optimizer):
    """`model.optimizer` is `optimizer` inside the block, for callbacks that read or set its learning
    rate (`LearningRateScheduler`, `ReduceLROnPlateau`); afterwards the model is as it was (an
    optimizer attribute would be saved with the model)."""
    had, previous = hasattr(model, "optimizer"), getattr(model, "optimizer", None)
    model.optimizer = optimizer
    try:
        yield
    finally:
        if had:
            model.optimizer = previous
        else:
            del model.optimizer


def _variable_groups(model, work_model, opt, backbone_learning_rate, mixed_precision):
    """[(optimizer, variable selector)]: one optimizer for all, or head and backbone apart."""
    if backbone_learning_rate is None:
        opt.build(work_model.trainable_variables)
        return [(opt, lambda variables: variables)]
    if mixed_precision == "mixed_float16":
        raise InvalidArgumentError("backbone_learning_rate with mixed_float16 is not supported (one loss scale per step); "
                                   "use mixed_bfloat16, which needs no loss scaling")
    from zoo.finetune import head_layer_names

    head = {id(v) for name in head_layer_names(model) for v in work_model.get_layer(name).weights}
    backbone_opt = optimizer_like(opt, backbone_learning_rate)
    head_vars = lambda variables: [v for v in variables if id(v) in head]  # noqa: E731
    backbone_vars = lambda variables: [v for v in variables if id(v) not in head]  # noqa: E731
    opt.build(head_vars(work_model.trainable_variables))
    backbone_opt.build(backbone_vars(work_model.trainable_variables))
    return [(opt, head_vars), (backbone_opt, backbone_vars)]


class _Trainer:
    """The distributed train and eval steps (tf.functions), shared by every strategy.

    `groups` is [(optimizer, select)], where `select(trainable_variables)` picks the variables
    that optimizer updates (one group normally; head and backbone with two learning rates).
    `metrics` / `eval_metrics` are Keras metrics (created in the strategy's scope) updated on each
    replica by the train / eval step; their variables sum over replicas when read.
    """

    def __init__(self, model, groups, loss_fn, strategy, *, metrics=(), eval_metrics=()):
        self.model, self.groups, self.loss_fn, self.strategy = model, groups, loss_fn, strategy
        self.metrics, self.eval_metrics = list(metrics), list(eval_metrics)
        self._steps = {}

    @staticmethod
    def reset_metrics(metrics) -> None:
        for metric in metrics:
            metric.reset_state()

    @staticmethod
    def metric_results(metrics) -> dict:
        """{name: value} of `metrics`: their replicas' variables summed (across workers, a collective
        every worker runs at the same point)."""
        return {m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics}

    def train_step(self, batches) -> Callable:
        """The train step for the batches of a distributed dataset: batch -> [loss sum, correct, weight]."""
        return self._step(self._train_replica, batches)

    def eval_step(self, batches) -> Callable:
        return self._step(self._eval_replica, batches)

    def _step(self, replica_fn, batches) -> Callable:
        """One tf.function per replica function and element spec, traced once: the spec of a dataset
        has None for the batch axis (the last batch may be smaller) and for lengths that vary from
        batch to batch (sequences padded per batch, graphs), so no batch shape retraces it."""
        spec = batches.element_spec
        key = (replica_fn.__name__, repr(spec))
        if key not in self._steps:
            strategy = self.strategy

            @tf.function(input_signature=[spec])
            def step(batch):
                per_replica = strategy.run(replica_fn, args=(batch,))
                return tf.stack([strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None) for t in per_replica])

            self._steps[key] = lambda batch: step(batch).numpy()
        return self._steps[key]

    def _loss_terms(self, batch, training, metrics):
        """(weighted per-example losses, sample weights, weighted correct predictions), each [examples];
        updates `metrics` with the batch."""
        x, y, weights = _unpack(batch)
        predictions = self.model(x, training=training)
        predictions = tf.cast(predictions, tf.float32)
        per_example = tf.reshape(tf.cast(self.loss_fn(y, predictions), tf.float32), [-1])
        weights = tf.ones_like(per_example) if weights is None else tf.reshape(tf.cast(weights, tf.float32), [-1])
        correct = _correct(y, predictions, tf.shape(per_example)[0]) * weights
        for metric in metrics:
            metric.update_state(y, predictions, sample_weight=weights)
        return per_example * weights, weights, correct

    def _train_replica(self, batch):
        context = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            weighted, weights, correct = self._loss_terms(batch, training=True, metrics=self.metrics)
            global_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
            loss = tf.reduce_sum(weighted) / tf.maximum(global_weight, 1e-12)
            if self.model.losses:
                loss += tf.add_n([tf.cast(l, tf.float32) for l in self.model.losses]) / self.strategy.num_replicas_in_sync
            scaled = self.groups[0][0].scale_loss(loss)
        variables = self.model.trainable_variables
        gradients = dict(zip([id(v) for v in variables], tape.gradient(scaled, variables)))
        for optimizer, select in self.groups:
            chosen = select(variables)
            if chosen:
                optimizer.apply_gradients([(gradients[id(v)], v) for v in chosen])
        return tf.reduce_sum(weighted), tf.reduce_sum(correct), tf.reduce_sum(weights)

    def _eval_replica(self, batch):
        weighted, weights, correct = self._loss_terms(batch, training=False, metrics=self.eval_metrics)
        return tf.reduce_sum(weighted), tf.reduce_sum(correct), tf.reduce_sum(weights)


def evaluate_data(trainer: _Trainer, data: TrainingData, stream: "_Stream | None" = None) -> dict:
    """Loss, accuracy and metrics of `data` (its epoch 0); the next epoch of `stream` when given
    (a `_Stream` of `data`, read once per evaluation)."""
    sums = np.zeros(3)

    def batches_from(first):
        dataset = data.make(0)
        return _distribute(trainer.strategy, dataset.skip(first) if first else dataset)

    batches = stream.batches if stream is not None else batches_from(0)
    eval_step = trainer.eval_step(batches)
    trainer.reset_metrics(trainer.eval_metrics)
    for batch in stream.epoch() if stream is not None else _read(data, 0, 0, batches, batches_from):
        sums += eval_step(batch)
    return {**_logs(sums), **trainer.metric_results(trainer.eval_metrics)}


class _Stream:
    """One distributed iterator over the batches of epochs first .. last - 1 (`TrainingData.stream`),
    read an epoch at a time: a dataset and an iterator per epoch cost 0.1-0.5 s here, more than an
    epoch of a small data set trains (profile of `fit` on MUTAG's GIN card recipe: 0.94 s an epoch
    of 6 steps, 0.43 s of it tracing the batching map again, 0.12 s making the iterator)."""

    def __init__(self, data: TrainingData, strategy, first: int, last: int, *, skip: int = 0, augment=None):
        dataset = data.stream(first, last)
        if skip:
            dataset = dataset.skip(skip)
        if augment is not None:  # one batch at a time, in order, as in `_train`'s per-epoch pipelines
            dataset = dataset.map(_augmenter(augment)).prefetch(tf.data.AUTOTUNE)
        self.batches = _distribute(strategy, dataset)
        self.steps = data.batches_per_epoch
        self._iterator = iter(self.batches)

    @classmethod
    def of(cls, data: TrainingData, strategy, first: int, last: int, **kwargs) -> "_Stream | None":
        """The stream of `data`, or None when it has none (image folders, a user's dataset of unknown length) or an
        unknown number of batches per epoch."""
        if data.stream is None or data.batches_per_epoch is None or last <= first:
            return None
        return cls(data, strategy, first, last, **kwargs)

    def epoch(self, skip: int = 0):
        """The batches of the next epoch (without its first `skip`, which the stream skipped)."""
        for _ in range(self.steps - skip):
            try:
                yield next(self._iterator)
            except StopIteration:
                return


def _read(data, epoch: int, first: int, batches, restart: Callable):
    """The batches of `batches` (batch `first` of `epoch` on), where data that can explain an error
    reading them (`data.read_error(error, epoch, first, batch)`: image folders) does: it raises an
    error naming the file, or leaves the file out and the epoch goes on from the same batch with
    `restart(batch)`. Other errors are raised as they are."""
    iterator, batch_index = iter(batches), first
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as error:
            explain = getattr(data, "read_error", None)
            try:
                recovered = explain is not None and explain(error, epoch, first, batch_index)
            except ZooError as problem:
                raise problem from None  # in plain words, without TensorFlow's text
            if not recovered:
                raise
            iterator, first = iter(restart(batch_index)), batch_index
            continue
        yield batch
        batch_index += 1


def evaluate(model: keras.Model, data, *, batch_size: int = 256, loss=None, metrics=None, strategy="auto",
             on_bad_file: str = "error") -> dict:
    """Loss, accuracy and `metrics` (as in `fit`) of `model` on `data` (same forms as `fit`; data with
    its own splits, a Planetoid graph, is evaluated on its test split), distributed like `fit`. An
    image folder is streamed and resized to the model's input; its labels follow the model's class
    names (`on_bad_file` as in `fit`)."""
    strategy = resolve_strategy(strategy)
    data, _ = bind_image_folders(model, data, on_bad_file=on_bad_file, caller="zoo.evaluate", adopt_class_names=False)
    source = match_edge_features(model, read_source(data, name="data"))
    source = source.test or source
    _check_source_labels(model, source)
    return evaluate_data(_evaluator(model, strategy, loss, metrics), source.training_data(batch_size, False, 0))


def _evaluator(model: keras.Model, strategy, loss, metrics) -> _Trainer:
    """The eval step for `model` under `strategy`, kept on the model when the loss is a name or None
    (and no metrics), so evaluating the same model again reuses its traced tf.function instead of
    retracing."""
    key = (strategy, loss) if (loss is None or isinstance(loss, str)) and not metrics else None
    cache = model.__dict__.setdefault("_zoo_evaluators", {})  # plain attribute: not tracked by Keras
    if key in cache:
        return cache[key]
    with strategy.scope():
        work_model = _model_in_scope(model, strategy, None)
        trainer = _Trainer(work_model, [], make_loss(loss, work_model), strategy, eval_metrics=make_metrics(metrics))
    if key is not None and work_model is model:
        cache[key] = trainer
    return trainer


def _augmenter(augment):
    def apply(x, y, *weights):
        return (augment(x, training=True), y, *weights)

    return apply


def _unpack(batch):
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
    raise InvalidArgumentError(
        "each batch must be (inputs, labels) or (inputs, labels, sample_weights); "
        f"got {type(batch).__name__} of {len(batch) if isinstance(batch, (tuple, list)) else 1} element(s)"
    )


def _correct(y, predictions, count):
    """[count] floats: 1.0 where argmax(prediction) is the class of y (integer labels or one-hot /
    soft labels); zeros when that has no meaning (e.g. regression)."""
    classes = predictions.shape[-1]
    if classes in (None, 1):
        return tf.zeros([count], tf.float32)
    predicted = tf.argmax(predictions, axis=-1, output_type=tf.int64)
    if y.dtype.is_integer and y.shape.rank == predictions.shape.rank - 1:
        return tf.reshape(tf.cast(tf.equal(predicted, tf.cast(y, tf.int64)), tf.float32), [-1])
    if y.shape.rank == predictions.shape.rank and y.shape[-1] == classes:
        truth = tf.argmax(y, axis=-1, output_type=tf.int64)
        return tf.reshape(tf.cast(tf.equal(predicted, truth), tf.float32), [-1])
    return tf.zeros([count], tf.float32)


def _logs(sums) -> dict:
    loss_sum, correct, count = (float(v) for v in sums)
    count = max(count, 1e-12)
    return {"loss": loss_sum / count, "accuracy": correct / count}


def _distribute(strategy, dataset: tf.data.Dataset):
    """The distributed dataset of `strategy`.

    Batches with a batch axis are split across replicas (sharded by data across workers: in-memory
    data cannot be sharded by file). Graph batches have no batch axis: a batch of many graphs
    (with `node_graph_ids`) is split into one shard of whole graphs per replica, across workers
    too (`zoo.data.graphs.shard_graph_batch`); a single graph (node classification on Cora) or a
    batch of fewer graphs than replicas goes whole to every replica (a small batch among split ones
    with 1/replicas of its sample weights on each copy). Since the loss is divided by the
    all-reduced sum of sample weights, the summed gradient is the one-device gradient either way
    (up to batch normalisation, whose statistics are per replica, as for images).
    """
    inputs = dataset.element_spec[0] if isinstance(dataset.element_spec, tuple) else None
    if strategy.num_replicas_in_sync > 1 and isinstance(inputs, dict) and EDGE_INDEX in inputs:
        replicas = strategy.num_replicas_in_sync
        by_graphs = NODE_GRAPH_IDS in inputs and set(inputs) <= GRAPH_BATCH_KEYS

        def per_worker(context):
            local = replicas // context.num_input_pipelines
            first = context.input_pipeline_id * local

            def shards(*element):
                if not by_graphs:
                    return tf.data.Dataset.from_tensors(element).repeat(local)
                return tf.data.Dataset.range(local).map(lambda k: _graph_shard(element, first + k, replicas))

            return dataset.flat_map(shards)

        return strategy.distribute_datasets_from_function(per_worker)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _graph_shard(element, index, replicas):
    """Replica `index`'s shard of a graph batch element (inputs, labels[, sample_weight]), with
    sample weights: a batch too small to split goes whole to every replica, each copy weighted
    1/replicas, so that loss, gradient and metrics count it once."""
    inputs, labels, *weights = element
    weights = tf.cast(weights[0], tf.float32) if weights else tf.ones(tf.shape(labels)[:1])
    shard, labels, weights = shard_graph_batch(inputs, (labels, weights), tf.cast(index, tf.int32), replicas)
    whole = count_graphs(inputs[NODE_GRAPH_IDS]) < replicas
    return shard, labels, weights * tf.where(whole, 1.0 / replicas, 1.0)


def _model_in_scope(model, strategy, mixed_precision):
    """`model` itself when its variables already live in `strategy`, else a copy built in its scope."""
    same_policy = mixed_precision is None or model.dtype_policy.name == mixed_precision
    in_scope = all(strategy.extended.variable_created_in_scope(getattr(v, "value", v)) for v in model.weights)
    if in_scope and same_policy:
        return model
    return rebuild_with_policy(model, mixed_precision)


def _check_source_labels(model, source: DataSource):
    """Integer class labels of the data against the model's number of outputs, before training."""
    outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if source.labels is not None and source.labels.ndim == 1 and outputs and outputs > 1:
        check_labels(source.labels, outputs)


def _adopt_class_names(model, source: DataSource):
    """The data's class names (image sub-folders, `.ts` labels) go with a model that has none, so that
    `zoo.export` writes them; a model with other names is an error, before training."""
    if not source.class_names:
        return
    own = getattr(model, "zoo_class_names", None)
    if own is None:
        from zoo.saving import check_class_names

        try:
            model.zoo_class_names = check_class_names(source.class_names, model)
        except InvalidArgumentError:
            return  # a head of another size: the label check has said what is wrong, if anything is
    elif tuple(own) != tuple(source.class_names):
        raise InvalidArgumentError(
            f"the model's class names {list(own)[:10]} differ from the data's {list(source.class_names)[:10]} "
            "(class index i must mean the same class in both): build the model with the data's class names, "
            "or rename the data's classes")


class _Progress:
    """Terminal progress: a bar per epoch with loss, accuracy, examples/s and ETA (verbose=1)."""

    def __init__(self, epoch, epochs, steps, done, verbose):
        self.verbose, self.start, self.examples = verbose, time.perf_counter(), 0.0
        self.epoch, self.epochs, self.done = epoch, epochs, done
        self.bar = None
        if verbose == 1:
            print(f"Epoch {epoch + 1}/{epochs}" + (f" (resuming at batch {done})" if done else ""), flush=True)
            self.bar = keras.utils.Progbar(steps, stateful_metrics=["loss", "accuracy", "examples/s"])
        self.seen = done

    def update(self, sums, batch_examples):
        self.examples += batch_examples
        self.seen += 1
        if self.bar is not None:
            logs = _logs(sums)
            rate = self.examples / max(time.perf_counter() - self.start, 1e-9)
            self.bar.update(self.seen, [("loss", logs["loss"]), ("accuracy", logs["accuracy"]), ("examples/s", rate)])

    def finish(self, logs):
        if self.verbose == 2:
            seconds = time.perf_counter() - self.start
            parts = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {self.epoch + 1}/{self.epochs} - {seconds:.1f}s - {parts}", flush=True)
        elif self.verbose == 1 and any(k.startswith("val_") for k in logs):
            print("  " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k.startswith("val_")), flush=True)
