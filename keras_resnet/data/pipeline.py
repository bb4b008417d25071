"""tf.data input pipelines over a ``DataSource``: training epochs, evaluation, 10-crop testing.

Training data is a pure function of ``(seed, epoch)``: each epoch orders the whole training split with its own seed
(``DataSource.train_epoch``) and augments every image with a stateless seed ``(seed + epoch, index)``. A run
resumed at epoch ``k`` (``start_epoch=k``) therefore sees the same batches as an uninterrupted run. Reading,
decoding and augmentation run in parallel (AUTOTUNE) and batches are prefetched; order is kept (``deterministic``)
unless asked otherwise.
"""

import tensorflow as tf

from keras_resnet.data import augment

AUTOTUNE = tf.data.AUTOTUNE


def _augmenter(source):
    if source.augmentation == "cifar":
        return lambda image, seed: augment.cifar_train(augment.decode(image), seed, source.image_size, source.flip)
    return lambda image, seed: augment.imagenet_train(image, seed, source.image_size, source.flip)


def _evaluator(source):
    if source.augmentation == "cifar":
        return lambda image: tf.cast(augment.decode(image), tf.float32)
    return lambda image: augment.imagenet_eval(image, source.image_size)


def eval_transform(source):
    """How ``source``'s test images become network inputs, as data (``preprocessing.json``; export and serving
    apply it with ``apply_eval_transform``): CIFAR-style images are resized to the input size (a no-op on their own
    images), ImageNet-style ones get the shorter side resized to 256/224 of the input and the central crop."""
    if source.augmentation == "cifar":
        return {"method": "resize", "size": source.image_size}
    return {"method": "center_crop", "resize": round(source.image_size * augment.EVAL_RESIZE),
            "size": source.image_size}


def apply_eval_transform(image, transform):
    """One image (uint8 ``(H, W, 3)`` or encoded bytes) -> float32 ``(size, size, 3)`` in [0, 255], as
    ``transform`` (from ``eval_transform``) says."""
    size = int(transform["size"])
    if transform["method"] == "center_crop":
        return augment.imagenet_eval(image, size, transform.get("resize"))
    _check_method(transform)
    # As small-image folder sources resize their images (``folder._resized``): antialiased, rounded to 8 bits.
    image = tf.image.resize(augment.decode(image), (size, size), antialias=True)
    return tf.clip_by_value(tf.round(image), 0.0, 255.0)


def _check_method(transform):
    if transform["method"] not in ("resize", "center_crop"):
        raise ValueError(f"Unknown evaluation transform {transform['method']!r}: expected 'resize' or 'center_crop'.")


def apply_ten_crop_transform(image, transform):
    """The 10-crop test views ([He16] Sec. 3.4) of one image under ``transform``: the four corner and centre crops
    of the image resized as ``transform`` says, and their mirror images; for ``resize`` transforms (small
    networks), the crops of the resized image zero-padded as in CIFAR training. -> float32 ``(10, size, size, 3)``.
    """
    size = int(transform["size"])
    if transform["method"] == "center_crop":
        return augment.imagenet_ten_crop(image, size, transform.get("resize"))
    _check_method(transform)
    return augment.cifar_ten_crop(apply_eval_transform(image, transform), size)


def _options(deterministic, shard_by_data):
    options = tf.data.Options()
    options.deterministic = deterministic
    if shard_by_data:  # in-memory sources have no files to shard over workers
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def steps_per_epoch(source, batch_size):
    """Full batches in one training epoch (the last partial batch is dropped, as the paper's iterations count)."""
    if source.num_train < batch_size:
        raise ValueError(f"batch size {batch_size} is larger than the {source.num_train} training images of "
                         f"{source.name}: pass a smaller --batch-size.")
    return source.num_train // batch_size


def train_dataset(source, batch_size, epochs, start_epoch=0, seed=0, deterministic=True, steps=None):
    """Batches of augmented ``(float32 (B, S, S, 3) in [0, 255], int64 (B,))`` for epochs ``start_epoch..epochs-1``.

    Every epoch has exactly ``steps`` batches (default and at most ``steps_per_epoch(source, batch_size)``);
    ``batch_size`` is the global batch.
    """
    full_epoch = steps_per_epoch(source, batch_size)
    steps = min(steps or full_epoch, full_epoch)
    train_augment = _augmenter(source)

    if start_epoch >= epochs:
        raise ValueError(f"No epochs left to train: start_epoch={start_epoch}, epochs={epochs}")

    # Python-int seeds: an epoch's data depends on (seed, epoch) only. Every epoch brings whole batches.
    epoch_seeds = range(seed * 1_000_003 + start_epoch, seed * 1_000_003 + epochs)
    if source.augmentation == "cifar" and hasattr(source.shuffle_train, "batches"):
        # In-memory arrays: gathered and augmented a batch at a time (one op chain per batch, not per image).
        data = source.shuffle_train.batches(epoch_seeds, steps * batch_size, batch_size, lambda images, seed:
                                            augment.cifar_train_batch(images, seed, source.image_size, source.flip))
    else:
        data = source.train_epochs(epoch_seeds, steps * batch_size, train_augment)
        data = data.batch(batch_size, drop_remainder=True)
    return data.prefetch(AUTOTUNE).with_options(_options(deterministic, not source.encoded))


def eval_dataset(source, batch_size, deterministic=True):
    """Batches of ``(float32 (B, S, S, 3) in [0, 255], int64 (B,))`` of the test split, single central view."""
    if source.augmentation == "cifar" and not source.encoded:  # uint8 arrays: cast a batch at a time
        data = source.test.batch(batch_size).map(lambda images, labels: (tf.cast(images, tf.float32), labels))
    else:
        evaluate = _evaluator(source)
        data = source.test.map(lambda image, label: (evaluate(image), label), num_parallel_calls=AUTOTUNE)
        data = data.batch(batch_size)
    return data.prefetch(AUTOTUNE).with_options(_options(deterministic, not source.encoded))


def ten_crop_dataset(source, batch_size):
    """Batches of ``(float32 (B, 10, S, S, 3), int64 (B,))``: the 10-crop test views of [He16] Sec. 3.4."""
    if source.augmentation == "cifar":
        crops = lambda image: augment.cifar_ten_crop(augment.decode(image), source.image_size)  # noqa: E731
    else:
        crops = lambda image: augment.imagenet_ten_crop(image, source.image_size)  # noqa: E731
    data = source.test.map(lambda image, label: (crops(image), label), num_parallel_calls=AUTOTUNE)
    return data.batch(batch_size).prefetch(AUTOTUNE)


def augmented_examples(source, count=16, seed=0):
    """``count`` augmented training images (float32, [0, 255]) for inspection, e.g. a TensorBoard grid."""
    train_augment = _augmenter(source)
    data = source.train.take(count).enumerate().map(
        lambda index, example: train_augment(example[0], tf.stack([tf.constant(seed, tf.int64), index])))
    return next(iter(data.batch(count)))
