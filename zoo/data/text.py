"""Text as token sequences, through `keras.layers.TextVectorization`, for the sequence models.

    >>> vectorizer = text_vectorizer(train_texts, max_tokens=20000)
    >>> tokens = tokenize(["a first text", "another"], vectorizer)     # int32 [2, 3], 0 = padding
    >>> model = zoo.build("transformer", vocab_size=vectorizer.vocabulary_size())
    >>> ds = text_dataset(train_texts, train_labels, vectorizer=vectorizer, batch_size=32)
    >>> model.fit(ds)

Token 0 is padding (what the `transformer` and `Embedding(mask_zero=True)` mask) and token 1 the
out-of-vocabulary token "[UNK]"; the vocabulary is ordered by frequency. Padding goes at the end.
"""

from __future__ import annotations

import numpy as np

from zoo.errors import InvalidArgumentError


def _texts(texts, what="texts") -> list:
    if isinstance(texts, str):
        raise InvalidArgumentError(f"{what} must be a list of strings, got one string")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, (str, bytes))]
    if bad:
        raise InvalidArgumentError(f"{what} must be strings; item {bad[0]} is a {type(texts[bad[0]]).__name__}")
    return texts


def text_vectorizer(texts=None, *, max_tokens: int | None = 20000, output_sequence_length: int | None = None,
                    vocabulary=None, standardize="lower_and_strip_punctuation", split="whitespace",
                    ngrams: int | None = None):
    """A `keras.layers.TextVectorization` (output "int") adapted to `texts` (or given `vocabulary`).

    Args:
        texts: the training texts whose vocabulary is learned (most frequent first).
        max_tokens: largest vocabulary, padding and "[UNK]" included; None for no limit.
        output_sequence_length: pad / cut every output to this many tokens; None pads each batch
            to its longest text.
        vocabulary: a fixed vocabulary (list of tokens, without padding and "[UNK]") instead of
            adapting to `texts`.
        standardize, split, ngrams: as `TextVectorization`.

    Returns:
        the layer; `vectorizer.vocabulary_size()` is the `vocab_size` of a token model.
    """
    import keras

    if (texts is None) == (vocabulary is None):
        raise InvalidArgumentError("give either texts to adapt to, or a vocabulary")
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        output_mode="int",
        output_sequence_length=output_sequence_length,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
        vocabulary=None if vocabulary is None else list(vocabulary),
    )
    if texts is not None:
        vectorizer.adapt(np.asarray(_texts(texts), dtype=object))
    return vectorizer


def tokenize(texts, vectorizer) -> np.ndarray:
    """Token ids `[n, time]` (int32, 0 = padding at the end) of `texts`."""
    out = vectorizer(np.asarray(_texts(texts), dtype=object))
    return np.asarray(out).astype("int32")


def text_dataset(texts, labels=None, *, vectorizer, batch_size: int = 32, shuffle: bool = False,
                 seed: int | None = None, drop_remainder: bool = False):
    """A `tf.data.Dataset` of `(tokens, labels)` batches (`tokens` alone without labels).

    Texts are batched as strings, then vectorized in the pipeline, so each batch is padded to its
    own longest text unless the vectorizer has an `output_sequence_length`.
    """
    import tensorflow as tf

    texts = _texts(texts)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    elements = tf.constant(texts, dtype=tf.string)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(texts):
            raise InvalidArgumentError(f"got {len(labels)} labels for {len(texts)} texts")
        ds = tf.data.Dataset.from_tensor_slices((elements, labels))
    else:
        ds = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def vectorize(batch, *rest):
        tokens = tf.cast(vectorizer(batch), tf.int32)
        return (tokens,) + rest if rest else tokens

    return ds.map(vectorize).prefetch(tf.data.AUTOTUNE)


__all__ = ["text_dataset", "text_vectorizer", "tokenize"]
