"""InceptionTime and the 1-D ResNet baseline against their authors' Keras code: parameter counts,
outputs with the same weights, layer names, padded == unpadded series, save / reload, a short fit."""

import keras
import numpy as np
import pytest

import zoo
from layers.conv1d_blocks import InceptionModule1D, ProjectionShortcut1D, ResidualBlock1D
from zoo.data import load_dataset

NAMES = ["inception_time", "resnet1d"]


# The reference networks, transcribed with the Keras 3 API from the authors' code -------------------
# (each layer named as its counterpart in the zoo model, so weights can be copied by name)


def inception_time_reference(input_shape, nb_classes, nb_filters=32, depth=6, kernel_size=41, bottleneck_size=32):
    """`Classifier_INCEPTION.build_model` of github:hfawaz/InceptionTime classifiers/inception.py
    (commit 952d115, lines 35-92; use_residual and use_bottleneck True)."""
    kernel_size = kernel_size - 1

    def inception_module(input_tensor, name, stride=1, activation="linear"):
        if int(input_tensor.shape[-1]) > 1:
            input_inception = keras.layers.Conv1D(filters=bottleneck_size, kernel_size=1, padding="same",
                                                  activation=activation, use_bias=False,
                                                  name=f"{name}_bottleneck")(input_tensor)
        else:
            input_inception = input_tensor
        kernel_size_s = [kernel_size // (2**i) for i in range(3)]
        conv_list = []
        for i in range(len(kernel_size_s)):
            conv_list.append(keras.layers.Conv1D(filters=nb_filters, kernel_size=kernel_size_s[i], strides=stride,
                                                 padding="same", activation=activation, use_bias=False,
                                                 name=f"{name}_conv{i + 1}")(input_inception))
        max_pool_1 = keras.layers.MaxPool1D(pool_size=3, strides=stride, padding="same")(input_tensor)
        conv_6 = keras.layers.Conv1D(filters=nb_filters, kernel_size=1, padding="same", activation=activation,
                                     use_bias=False, name=f"{name}_pool_conv")(max_pool_1)
        conv_list.append(conv_6)
        x = keras.layers.Concatenate(axis=2)(conv_list)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.Activation(activation="relu")(x)

    def shortcut_layer(input_tensor, out_tensor, name):
        shortcut_y = keras.layers.Conv1D(filters=int(out_tensor.shape[-1]), kernel_size=1, padding="same",
                                         use_bias=False, name=f"{name}_conv")(input_tensor)
        shortcut_y = keras.layers.BatchNormalization(name=f"{name}_bn")(shortcut_y)
        x = keras.layers.Add()([shortcut_y, out_tensor])
        return keras.layers.Activation("relu")(x)

    input_layer = keras.layers.Input(input_shape)
    x = input_res = input_layer
    for d in range(depth):
        x = inception_module(x, f"inception{d + 1}")
        if d % 3 == 2:
            x = input_res = shortcut_layer(input_res, x, f"shortcut{(d + 1) // 3}")
    gap_layer = keras.layers.GlobalAveragePooling1D()(x)
    output_layer = keras.layers.Dense(nb_classes, activation="softmax", name="predictions")(gap_layer)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def resnet_reference(input_shape, nb_classes, n_feature_maps=64):
    """`Classifier_RESNET.build_model` of github:hfawaz/dl-4-tsc classifiers/resnet.py (commit e0233ef,
    lines 37-107); its three blocks written as one loop (block 3 has the batch-normalized identity)."""
    input_layer = keras.layers.Input(input_shape)
    x = input_layer
    blocks = ((n_feature_maps, True), (n_feature_maps * 2, True), (n_feature_maps * 2, False))
    for b, (filters, expand) in enumerate(blocks, start=1):
        conv_x = keras.layers.Conv1D(filters=filters, kernel_size=8, padding="same", name=f"block{b}_1_conv")(x)
        conv_x = keras.layers.BatchNormalization(name=f"block{b}_1_bn")(conv_x)
        conv_x = keras.layers.Activation("relu")(conv_x)
        conv_y = keras.layers.Conv1D(filters=filters, kernel_size=5, padding="same", name=f"block{b}_2_conv")(conv_x)
        conv_y = keras.layers.BatchNormalization(name=f"block{b}_2_bn")(conv_y)
        conv_y = keras.layers.Activation("relu")(conv_y)
        conv_z = keras.layers.Conv1D(filters=filters, kernel_size=3, padding="same", name=f"block{b}_3_conv")(conv_y)
        conv_z = keras.layers.BatchNormalization(name=f"block{b}_3_bn")(conv_z)
        if expand:  # expand channels for the sum
            shortcut_y = keras.layers.Conv1D(filters=filters, kernel_size=1, padding="same", name=f"block{b}_0_conv")(x)
            shortcut_y = keras.layers.BatchNormalization(name=f"block{b}_0_bn")(shortcut_y)
        else:  # no need to expand channels because they are equal
            shortcut_y = keras.layers.BatchNormalization(name=f"block{b}_0_bn")(x)
        x = keras.layers.add([shortcut_y, conv_z])
        x = keras.layers.Activation("relu")(x)
    gap_layer = keras.layers.GlobalAveragePooling1D()(x)
    output_layer = keras.layers.Dense(nb_classes, activation="softmax", name="predictions")(gap_layer)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def weighted_layers(model):
    """Every layer of `model` (sub-layers of blocks included) that holds weights of its own, by name."""
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.weights and not list(layer._flatten_layers(include_self=False)):
            found[layer.name] = layer
    return found


REFERENCES = {"inception_time": inception_time_reference, "resnet1d": resnet_reference}


@pytest.fixture
def lively(randomize):
    """`randomize`, then kernels of variance 2 / fan-in (He et al. 2015) and batch-norm scales in
    [0.5, 1.5], so the output of a deep stack still depends on its input (with randomize's values
    near 0.05 it is nearly the biases', and padding would change nothing a test could see)."""

    def apply(model, seed=0):
        randomize(model, seed)
        rng = np.random.default_rng(seed + 1)
        for variable in model.weights:
            if variable.path.endswith("kernel"):
                shape = tuple(variable.shape)
                std = np.sqrt(2.0 / np.prod(shape[:-1]))
                variable.assign(rng.normal(0.0, std, shape).astype(variable.dtype))
            elif variable.path.endswith("gamma"):
                variable.assign(rng.uniform(0.5, 1.5, tuple(variable.shape)).astype(variable.dtype))
        return model

    return apply


def series(n=2, time=24, channels=1, seed=0):
    return np.random.default_rng(seed).normal(size=(n, time, channels)).astype("float32")


def pad(seqs):
    out = np.zeros((len(seqs), max(len(s) for s in seqs), seqs[0].shape[-1]), "float32")
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


# counts and outputs against the reference -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_card_counts_equal_the_reference_network(name):
    card = zoo.card(name)
    model = zoo.build(name)
    reference = REFERENCES[name](card.input_shape, card.num_classes)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params(), trainable) == (card.params, card.trainable_params)
    assert model.count_params() == reference.count_params() == card.reference_params
    assert card.reference_counts == "total" and card.reference_impl.startswith("github:hfawaz/")
    assert model.input_shape == (None, None, 1) and model.output_shape == (None, 2)


@pytest.mark.parametrize("name, channels, classes", [("inception_time", 3, 4), ("resnet1d", 2, 3)])
def test_same_weights_give_the_reference_outputs(lively, name, channels, classes):
    """Every weighted layer of the reference has a namesake of the same weights' shapes in the zoo model
    and the same weights give the same function: on a multichannel input (every Inception module with
    its bottleneck) and another head."""
    model = lively(zoo.build(name, input_shape=(None, channels), num_classes=classes, mask_value=None))
    reference = REFERENCES[name]((None, channels), classes)
    ours, theirs = weighted_layers(model), weighted_layers(reference)
    assert set(ours) == set(theirs)
    for layer_name, layer in theirs.items():
        layer.set_weights(ours[layer_name].get_weights())
    x = series(3, 30, channels)
    np.testing.assert_allclose(model(x, training=False), reference(x, training=False), rtol=1e-5, atol=1e-6)


def parts(block):
    return sorted(sub.name for sub in block._flatten_layers(include_self=False))


def test_layer_names():
    inception = zoo.build("inception_time")
    names = [layer.name for layer in inception.layers]
    assert [n for n in names if n.startswith("inception")] == [f"inception{i}" for i in range(1, 7)]
    assert [n for n in names if n.startswith("shortcut")] == ["shortcut1", "shortcut2"]
    assert parts(inception.get_layer("shortcut2")) == sorted(f"shortcut2_{p}" for p in ("conv", "bn", "add", "relu"))
    assert names[-2:] == ["avg_pool", "predictions"] and "padding_mask" in names
    first, second = inception.get_layer("inception1"), inception.get_layer("inception2")
    module = ("conv1", "conv2", "conv3", "pool", "pool_conv", "concat", "bn", "relu")
    assert parts(first) == sorted(f"inception1_{p}" for p in module)  # one channel in: no bottleneck
    assert parts(second) == sorted(f"inception2_{p}" for p in module + ("bottleneck",))
    kernels = {sub.name: sub.kernel_size[0] for sub in first._flatten_layers(include_self=False) if "conv" in sub.name}
    assert [kernels[f"inception1_conv{i}"] for i in (1, 2, 3)] == [40, 20, 10] and kernels["inception1_pool_conv"] == 1

    resnet = zoo.build("resnet1d")
    assert [layer.name for layer in resnet.layers] == ["input_layer", "padding_mask", "block1", "block2", "block3",
                                                       "avg_pool", "predictions"]
    block1, block3 = resnet.get_layer("block1"), resnet.get_layer("block3")
    steps = [f"{i}_{p}" for i in (1, 2) for p in ("conv", "bn", "relu")] + ["3_conv", "3_bn", "0_bn", "add", "out"]
    assert parts(block1) == sorted([f"block1_{s}" for s in steps] + ["block1_0_conv"])
    assert parts(block3) == sorted(f"block3_{s}" for s in steps)  # the identity shortcut, batch-normalized
    assert [sub.kernel_size[0] for sub in block1._flatten_layers(include_self=False)
            if sub.name in ("block1_1_conv", "block1_2_conv", "block1_3_conv")] == [8, 5, 3]


# variable length --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_padded_series_give_the_unpadded_outputs(lively, name):
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(n, 2)).astype("float32") - 1.0 for n in (23, 9, 30)]  # mostly negative: max pool
    small = {"inception_time": dict(filters=4, bottleneck_size=4, depth=3, kernel_sizes=(12, 6, 3)),
             "resnet1d": dict(filters=(4, 6, 6))}[name]
    for options in ({}, {"include_top": False, "pooling": "max"}):
        model = lively(zoo.build(name, input_shape=(None, 2), num_classes=3, classifier_activation=None, **small,
                                    **options))
        padded = np.asarray(model(pad(seqs), training=False))
        for i, s in enumerate(seqs):
            np.testing.assert_allclose(padded[i], np.asarray(model(s[None], training=False))[0], rtol=1e-5, atol=1e-5)
    unmasked = lively(zoo.build(name, input_shape=(None, 2), num_classes=3, mask_value=None,
                                   classifier_activation=None, **small))
    assert np.abs(np.asarray(unmasked(pad(seqs)))[1] - np.asarray(unmasked(seqs[1][None]))[0]).max() > 1e-2


def test_blocks_pass_the_mask_and_use_it_in_training():
    x = series(2, 12, 3)
    mask = np.ones((2, 12), bool)
    mask[1, 7:] = False
    for block in (InceptionModule1D(4, kernel_sizes=(5, 3, 1), bottleneck_size=2), ResidualBlock1D(5)):
        assert block.compute_mask(x, mask) is None  # the models pass it on explicitly
        x_padded = np.where(mask[..., None], x, 0.0).astype("float32")
        trained = np.asarray(block(x_padded, mask=mask, training=True))
        # training statistics over the real steps: appending more padding changes nothing there
        longer = np.concatenate([x_padded, np.zeros((2, 5, 3), "float32")], axis=1)
        longer_mask = np.concatenate([mask, np.zeros((2, 5), bool)], axis=1)
        again = np.asarray(block(longer, mask=longer_mask, training=True))[:, :12]
        np.testing.assert_allclose(again[mask], trained[mask], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "block, shape",
    [(InceptionModule1D(4, kernel_sizes=(6, 3, 2), bottleneck_size=3, name="inception2"), (10, 3)),
     (ResidualBlock1D(6, kernel_sizes=(4, 3, 2), name="block1"), (10, 2))],
    ids=["inception", "residual"],
)
def test_blocks_save_and_reload(roundtrip, block, shape):
    roundtrip(block, series(2, *shape))


def test_shortcut_config_and_formula():
    shortcut = ProjectionShortcut1D(momentum=0.9, name="shortcut1")
    assert ProjectionShortcut1D.from_config(shortcut.get_config()).get_config() == shortcut.get_config()
    x, residual = series(2, 7, 4), series(2, 7, 1, seed=3)
    out = np.asarray(shortcut(x, residual, training=False))
    kernel = shortcut.conv.get_weights()[0]  # [1, 1, 4], no bias
    bn = shortcut.bn
    scaled = (residual @ kernel[0] - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    expected = np.maximum(x + scaled * bn.gamma.numpy() + bn.beta.numpy(), 0.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 7, 4) and len(shortcut.conv.get_weights()) == 1


def test_bad_arguments_raise_clear_errors():
    for name, kwargs, match in [
        ("inception_time", dict(depth=0), "depth must be an integer >= 1"),
        ("inception_time", dict(kernel_sizes=()), "kernel_sizes"),
        ("inception_time", dict(input_shape=(150,)), "rank 2"),
        ("inception_time", dict(input_shape=(None, None)), "known number of features"),
        ("resnet1d", dict(filters=(64, 0)), "filters"),
        ("resnet1d", dict(bn_momentum=1.0), "bn_momentum"),
        ("resnet1d", dict(stride=2), "has no option 'stride'"),
    ]:
        with pytest.raises(zoo.InvalidArgumentError, match=match):
            zoo.build(name, **kwargs)


# save, reload, train ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_saves_and_reloads(tmp_path, randomize, name):
    model = randomize(zoo.build(name, input_shape=(None, 2), num_classes=3))
    assert model.zoo_card.name == name
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for x in (series(2, 20, 2), series(1, 33, 2, seed=4)):  # two lengths
        np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))


@pytest.mark.parametrize("name", NAMES)
def test_short_fit_on_gunpoint_lowers_the_loss(name):
    train, _ = load_dataset("gunpoint")
    x, _ = train.padded()
    keras.utils.set_random_seed(0)
    model = zoo.build(name, num_classes=train.num_classes, input_shape=(None, 1))
    history = zoo.fit(model, (x, train.labels), epochs=4, batch_size=16, learning_rate=1e-3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
