"""Datasets and tf.data pipelines, on data the tests write in the real formats."""

import dataclasses
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets import CIFAR10_NAMES, tar_folder, write_cifar10_pickles, write_jpeg_tree
from keras_resnet import data
from keras_resnet.data import augment


def test_digits_are_the_real_uci_digits_at_32x32x3():
    source = data.load("digits")
    assert (source.num_train, source.num_test, source.num_classes) == (1437, 360, 10)
    images, labels = next(iter(source.test.batch(360)))
    assert images.shape == (360, 32, 32, 3) and images.dtype == tf.uint8
    assert int(tf.reduce_max(images)) == 255 and int(tf.reduce_min(images)) == 0
    assert np.bincount(labels.numpy()).min() >= 35  # stratified hold-out
    assert source.mean.shape == (32, 32, 3) and not source.flip


@pytest.mark.parametrize("as_tarball", [False, True])
def test_cifar10_pickle_batches(tmp_path, as_tarball):
    folder, x_train, y_train, x_test, y_test = write_cifar10_pickles(tmp_path)
    path = tar_folder(folder, tmp_path / "cifar-10-python.tar.gz") if as_tarball else tmp_path
    source = data.load("cifar10", data_dir=path)
    assert source.class_names == CIFAR10_NAMES and (source.num_train, source.num_test) == (20, 4)
    images, labels = next(iter(source.train.batch(20)))
    np.testing.assert_array_equal(images.numpy(), x_train)
    np.testing.assert_array_equal(labels.numpy(), y_train)
    np.testing.assert_allclose(source.mean, x_train.mean(axis=0), rtol=1e-5)
    test_images, _ = next(iter(source.test.batch(4)))
    np.testing.assert_array_equal(test_images.numpy(), x_test)


def test_cifar10_through_tfds():
    with tfds.testing.mock_data(num_examples=24):
        source = data.load("cifar10")
    assert (source.num_train, source.num_classes) == (24, 10)
    images, labels = next(iter(data.train_dataset(source, batch_size=8, epochs=1)))
    assert images.shape == (8, 32, 32, 3) and images.dtype == tf.float32 and labels.dtype == tf.int64


def test_missing_cifar_says_where_and_how(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match=r"does not exist.*tfds build cifar10"):
        data.load("cifar10", data_dir=tmp_path / "nowhere")
    with pytest.raises(data.DatasetNotFoundError, match=rf"cifar10 was not found in {tmp_path}.*tfds build cifar10"):
        data.load("cifar10", data_dir=tmp_path)


class _Planted:
    """A pickle that would run a shell command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "planted code"])
def test_damaged_cifar_pickles_name_the_file(damage, tmp_path):
    folder, *_ = write_cifar10_pickles(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    marker = tmp_path / "code-ran"
    if damage == "truncated":
        batch.write_bytes(batch.read_bytes()[:5000])
    elif damage == "random bytes":
        batch.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    else:
        batch.write_bytes(pickle.dumps({b"data": _Planted(marker), b"labels": [0]}))
    with pytest.raises(data.DatasetNotFoundError, match=rf"{batch} is damaged.*Download cifar-10-batches-py again"):
        data.load("cifar10", data_dir=folder)
    assert not marker.exists(), "the planted pickle ran code"


def test_truncated_cifar_tarball(tmp_path):
    folder, *_ = write_cifar10_pickles(tmp_path)
    tarball = tar_folder(folder, tmp_path / "cifar-10-python.tar.gz")
    content = open(tarball, "rb").read()
    open(tarball, "wb").write(content[:len(content) // 2])
    with pytest.raises(data.DatasetNotFoundError, match=r"cifar-10-python.tar.gz.*(damaged|truncated).*again"):
        data.load("cifar10", data_dir=tarball)


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'.*digits"):
        data.load("mnist")


def test_imagenet_jpeg_tree_pipeline(tmp_path):
    source = data.load("imagenet", data_dir=write_jpeg_tree(tmp_path), image_size=32)
    assert (source.num_train, source.num_test, source.class_names) == (9, 9, ["n01", "n02", "n03"])
    assert source.encoded and source.mean.shape == (3,)
    images, labels = next(iter(data.train_dataset(source, batch_size=4, epochs=1)))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
    images, labels = next(iter(data.eval_dataset(source, batch_size=9)))
    assert images.shape == (9, 32, 32, 3) and sorted(labels.numpy().tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    crops, _ = next(iter(data.ten_crop_dataset(source, batch_size=2)))
    assert crops.shape == (2, 10, 32, 32, 3)


def test_incomplete_jpeg_tree(tmp_path):
    (tmp_path / "train" / "n01").mkdir(parents=True)
    with pytest.raises(data.DatasetNotFoundError, match=r"incomplete.*val/<class>"):
        data.load("imagenet", data_dir=tmp_path)


def test_missing_imagenet_names_the_manual_download(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match=r"manual download.*--manual-dir"):
        data.load("imagenet", data_dir=tmp_path)


def _position_image():
    """Pixel (y, x) holds (y + 1, x + 1, 7): a crop's top-left pixel tells its offset and flip."""
    y, x = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    return tf.constant(np.stack([y + 1, x + 1, np.full_like(y, 7)], -1).astype("uint8"))


def test_cifar_crop_and_flip_statistics():
    """[He16] Sec. 4.2: pad 4, random 32x32 crop (offsets 0..8 uniformly), horizontal flip half of the time."""
    image = _position_image()
    offsets, flips = [], 0
    for i in range(400):
        out = augment.cifar_train(image, tf.constant([0, i], tf.int64)).numpy()
        assert out.shape == (32, 32, 3)
        inside = out[..., 2] == 7
        assert not out[~inside].any()  # the padding is zeros
        rows, cols = np.nonzero(inside)
        first_row = rows.min()
        image_row = out[first_row, cols.min(), 0] - 1
        offsets.append(int(image_row) + 4 - int(first_row))  # crop origin in the padded image
        flips += out[first_row, cols.min(), 1] > out[first_row, cols.max(), 1]
    assert 0.4 < flips / 400 < 0.6
    counts = np.bincount(offsets, minlength=9)
    assert len(counts) == 9 and counts.min() > 400 / 9 / 2  # every offset 0..8, roughly uniformly


def test_no_flip_for_digits():
    image = _position_image()
    for i in range(50):
        out = augment.cifar_train(image, tf.constant([0, i], tf.int64), flip=False).numpy()
        rows, cols = np.nonzero(out[..., 2] == 7)
        assert out[rows.min(), cols.min(), 1] < out[rows.min(), cols.max(), 1]


def _crop_origin(crop, padded):
    """``(row, column, flipped)`` of the 32x32 window of ``padded`` that ``crop`` is (mirrored or not), or ``None``."""
    for row in range(padded.shape[0] - 31):
        for column in range(padded.shape[1] - 31):
            window = padded[row:row + 32, column:column + 32]
            for flipped in (False, True):
                if np.array_equal(crop, window[:, ::-1] if flipped else window):
                    return row, column, flipped
    return None


@pytest.mark.parametrize("flip", [True, False])
def test_a_batch_is_cropped_and_flipped_image_by_image(flip):
    """``cifar_train_batch`` gives each image of a batch its own crop (offsets 0..8 in both axes, uniformly) and flip
    (half of the time), each a crop of that image: the same distribution as ``cifar_train`` image by image."""
    image = _position_image()
    batch = tf.stack([image] * 400)
    out = augment.cifar_train_batch(batch, tf.constant([3, 1], tf.int64), flip=flip).numpy()
    assert out.shape == (400, 32, 32, 3) and out.dtype == np.float32
    padded = np.pad(image.numpy().astype("float32"), ((4, 4), (4, 4), (0, 0)))
    origins = [_crop_origin(crop, padded) for crop in out]
    assert None not in origins  # each output is a window of its padded image, mirrored or not
    flips = sum(flipped for _, _, flipped in origins)
    assert 0.4 < flips / 400 < 0.6 if flip else flips == 0
    for axis in (0, 1):
        counts = np.bincount([origin[axis] for origin in origins], minlength=9)
        assert len(counts) == 9 and counts.min() > 400 / 9 / 2
    again = augment.cifar_train_batch(batch, tf.constant([3, 1], tf.int64), flip=flip).numpy()
    np.testing.assert_array_equal(out, again)  # a function of the seed


def test_in_memory_batches_are_the_examples_of_the_epochs_in_turn():
    """In-memory arrays are gathered a batch at a time (``PermutedArrays.batches``): the same examples in the same
    order as the epochs streamed example by example, and ``train_dataset`` batches are those, augmented."""
    source = data.load("digits")
    seeds, count, batch = range(3, 6), 1408, 128
    gathered = list(source.shuffle_train.batches(seeds, count, batch, lambda images, seed: (images, seed))
                    .as_numpy_iterator())
    one_by_one = list(source.train_epochs(seeds, count, lambda image, seed: image).batch(batch).as_numpy_iterator())
    assert len(gathered) == len(one_by_one) == 33
    for step, (((images, seed), labels), (images_1, labels_1)) in enumerate(zip(gathered, one_by_one)):
        np.testing.assert_array_equal(images, images_1)
        np.testing.assert_array_equal(labels, labels_1)
        assert list(seed) == [seeds[step // 11], step % 11]
    streamed = list(data.train_dataset(source, batch, 6, start_epoch=3, steps=11).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([y for _, y in streamed]),
                                  np.concatenate([labels for _, labels in gathered]))
    with pytest.raises(ValueError, match="multiple of batch_size"):
        source.shuffle_train.batches(seeds, 100, 128, lambda images, seed: images)


def test_imagenet_scale_augmentation_range():
    """[He16] Sec. 3.4: the shorter side is uniform in [256, 480] for 224 crops."""
    sides = np.array([int(augment.random_shorter_side(tf.constant([0, i]))) for i in range(2000)])
    assert sides.min() == 256 and sides.max() == 480
    counts, _ = np.histogram(sides, bins=5, range=(256, 481))
    assert counts.min() > 0.7 * counts.mean()
    assert 64 <= int(augment.random_shorter_side(tf.constant([0, 1]), size=56)) <= 120


def test_imagenet_scale_augmentation_and_lighting():
    image = tf.constant(np.full((100, 150, 3), 128, "uint8"))
    assert augment.resize_shorter_side(image, 64).shape == (64, 96, 3)
    out = augment.imagenet_train(tf.io.encode_jpeg(image), tf.constant([1, 2], tf.int64), size=56)
    assert out.shape == (56, 56, 3)
    shifts = np.stack([augment.pca_lighting(tf.zeros((2, 2, 3)), tf.constant([0, i])).numpy()[0, 0]
                       for i in range(500)])
    along_first = shifts @ np.array(augment.PCA_EIGENVECTORS)[:, 0]
    expected = 255 * augment.PCA_STDDEV * augment.PCA_EIGENVALUES[0]  # ~5.5 grey levels
    assert along_first.std() == pytest.approx(expected, rel=0.15) and abs(along_first.mean()) < 1.0
    assert augment.imagenet_eval(tf.io.encode_jpeg(image), size=56).shape == (56, 56, 3)
    # One shift for every pixel of a non-square image (added as rows of W * 3 values for speed), none else.
    pixels = np.random.default_rng(0).uniform(0, 255, (7, 5, 3)).astype("float32")
    lit = augment.pca_lighting(tf.constant(pixels), tf.constant([0, 3])).numpy()
    shift = augment.pca_lighting(tf.zeros((1, 1, 3)), tf.constant([0, 3])).numpy()[0, 0]
    assert lit.shape == (7, 5, 3) and np.abs(shift).max() > 0.1
    np.testing.assert_allclose(lit, pixels + shift, atol=1e-4)


def test_ten_crops_are_corners_centre_and_flips():
    image = _position_image()
    crops = augment.ten_crops(tf.cast(image, tf.float32), 24).numpy()
    assert crops.shape == (10, 24, 24, 3)
    assert [tuple(crops[i, 0, 0, :2]) for i in range(5)] == [(1, 1), (1, 9), (9, 1), (9, 9), (5, 5)]
    np.testing.assert_array_equal(crops[5:], crops[:5, :, ::-1])


def test_epochs_depend_on_seed_and_epoch_only():
    """A run resumed at epoch 1 sees exactly the batches of an uninterrupted run's epoch 1 and 2."""
    source = data.load("digits")
    full = [x.numpy() for x, _ in data.train_dataset(source, 256, epochs=3, seed=3)]
    resumed = [x.numpy() for x, _ in data.train_dataset(source, 256, epochs=3, start_epoch=1, seed=3)]
    steps = data.steps_per_epoch(source, 256)
    assert len(full) == 3 * steps and len(resumed) == 2 * steps
    for a, b in zip(full[steps:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[steps])  # epochs differ
    capped = list(data.train_dataset(source, 256, epochs=2, steps=2))
    assert len(capped) == 4


def _graph_size(dataset):
    return len(dataset._as_serialized_graph().numpy())


@pytest.mark.parametrize("kind", ["arrays", "folder", "tfds", "shuffled whole"])
def test_the_training_stream_does_not_grow_with_the_epochs(kind, tmp_path):
    """The stream of every kind of source holds the same graph for 10 epochs as for 100,000, and its epochs are
    those taken one by one (``train_epoch``): a dataset per epoch, concatenated, took 114 s to build for 1,000
    epochs of the digits and never started at the paper's default for them."""
    if kind == "folder":
        write_jpeg_tree(tmp_path, classes=("a", "b"), per_class=5, sizes=((12, 10),))
        source = data.load("folder", data_dir=str(tmp_path / "train"), image_size=8, val_fraction=0.2)
    elif kind == "tfds":
        with tfds.testing.mock_data(num_examples=24):
            source = data.load("cifar10")
        # The TFDS path's kind of order: a function of the epoch seed that knows nothing of ``epochs``.
        source = dataclasses.replace(source, shuffle_train=lambda seed: source.train.shuffle(24, seed=seed))
    else:
        source = data.load("digits")
        if kind == "shuffled whole":
            source = dataclasses.replace(source, shuffle_train=None)
    sizes = [_graph_size(data.train_dataset(source, 4, epochs, steps=1)) for epochs in (10, 100_000)]
    assert abs(sizes[0] - sizes[1]) < 32  # the numbers' encodings may differ by a few bytes
    streamed = list(source.train_epochs(range(7, 10), 5, lambda image, seed: (image, seed)).as_numpy_iterator())
    for k, epoch_seed in enumerate(range(7, 10)):
        expected = list(source.train_epoch(epoch_seed).take(5).as_numpy_iterator())
        for position, (((image, seed), label), (image_1, label_1)) in enumerate(
                zip(streamed[5 * k:5 * (k + 1)], expected)):
            np.testing.assert_array_equal(image, image_1)
            assert label == label_1 and list(seed) == [epoch_seed, position]
    first_batch = next(iter(data.train_dataset(source, 4, 100_000, steps=1)))
    assert first_batch[0].shape[0] == 4


def test_batch_larger_than_dataset():
    with pytest.raises(ValueError, match="smaller --batch-size"):
        data.train_dataset(data.load("digits"), 4096, epochs=1)


def _wave_image(height, width):
    """Waves of a 32-pixel period, red along y, green along x: bilinear and antialiased resampling differ on them by
    about two grey levels, a crop misplaced by one pixel by about 30."""
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    waves = [128 + 100 * np.sin(2 * np.pi * y / 32), 128 + 100 * np.sin(2 * np.pi * x / 32), 128 + 0 * x]
    return np.stack(waves, -1).round().astype("uint8")


def _reference_train(image, seed, size):
    """The training view from the whole decoded image: the scale augmentation's window cut out, flipped, resized
    (antialiased where it shrinks more than 2x), lit."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    y, x, height, width = augment.train_window(tf.shape(image)[:2], seeds, size).numpy()
    window = tf.image.stateless_random_flip_left_right(image[y:y + height, x:x + width], seed=seeds[2])
    view = tf.image.resize(window, (size, size), antialias=bool(max(height, width) > 2 * size))
    return tf.clip_by_value(augment.pca_lighting(view, seeds[3]), 0.0, 255.0)


@pytest.mark.parametrize("shape, size", [((375, 500), 224), ((90, 50), 32), ((480, 720), 40)])
def test_training_views_are_windows_of_the_whole_image(shape, size):
    """Decoding only the training crop's window (JPEG) or slicing it (PNG, pixels) gives the crop of the whole
    decoded image, border pixels included: mild scaling, upscaling (portrait) and strong downscaling
    (antialiased)."""
    image = _wave_image(*shape)
    jpeg = tf.io.encode_jpeg(image, quality=95)
    decoded = tf.io.decode_jpeg(jpeg, channels=3)  # the reference sees the same JPEG pixels
    for encoded, pixels in ((jpeg, decoded), (tf.io.encode_png(image), image), (tf.constant(image), image)):
        for i in range(8):
            seed = tf.constant([5, i], tf.int64)
            np.testing.assert_allclose(augment.imagenet_train(encoded, seed, size),
                                       _reference_train(pixels, seed, size), atol=1e-3)


def test_training_windows_follow_the_scale_augmentation():
    """[He16] Sec. 3.4 in source pixels: a 500x375 image resized to a shorter side in [256, 480] and cropped to 224
    is a square window of 175..328 source pixels (shorter side 224 * 375 / window, uniform), anywhere in the image."""
    windows = np.array([augment.train_window(tf.constant([375, 500]), tf.constant([[0, i], [1, i]]), 224).numpy()
                        for i in range(2000)])
    y, x, height, width = windows.T
    assert (height == width).all() and height.min() == 175 and height.max() == 328
    sides = 224 * 375 / height
    counts, _ = np.histogram(sides, bins=5, range=(256, 481))
    assert counts.min() > 0.7 * counts.mean()
    assert (y >= 0).all() and (y + height <= 375).all() and (x >= 0).all() and (x + width <= 500).all()
    for position in (y / (375 - height + 1), x / (500 - width + 1)):  # relative position, uniform in [0, 1)
        assert abs(position.mean() - 0.5) < 0.03 and position.min() < 0.01 and position.max() > 0.98
    assert (augment.train_window(tf.constant([1, 900]), tf.constant([[0, 1], [1, 1]]), 224).numpy()[2:] == 1).all()


@pytest.mark.parametrize("shape, size, tolerance", [
    ((375, 500), 224, 3.0),  # mild scaling: bilinear on the window instead of the antialiased whole image
    ((90, 50), 32, 3.0),  # portrait, upscaled (a crop one pixel off differs by ~30 grey levels)
    ((480, 720), 40, 0.01),  # strong downscaling: antialiased on the window, identical to the whole image
])
def test_evaluation_views_are_those_of_the_whole_image(shape, size, tolerance):
    """Decoding only the window of the centre crop or the 10 crops gives the crops of resizing the whole image."""
    image = _wave_image(*shape)
    jpeg = tf.io.encode_jpeg(image, quality=95)
    decoded = tf.io.decode_jpeg(jpeg, channels=3)  # the reference sees the same JPEG pixels
    for encoded, pixels in ((jpeg, decoded), (tf.io.encode_png(image), image), (tf.constant(image), image)):
        resized = augment.resize_shorter_side(pixels, round(size * augment.EVAL_RESIZE))
        np.testing.assert_allclose(augment.imagenet_eval(encoded, size), augment.center_crop(resized, size),
                                   atol=tolerance)
        np.testing.assert_allclose(augment.imagenet_ten_crop(encoded, size), augment.ten_crops(resized, size),
                                   atol=tolerance)


def test_windowed_views_sample_where_resizing_samples():
    """Without antialiasing (windows shrunk by at most 2x) the views are those of bilinearly resizing the whole
    image, to float rounding, on random pixels, where any misplaced sample shows: a sample 1e-4 pixels off (the
    float32 rounding of positions in a 500-pixel window) moves a grey level by at most 0.03, a sample 0.01 pixels off
    by up to 2.5."""
    rng = np.random.default_rng(3)
    for shape, size in (((375, 500), 224), ((90, 50), 32), ((33, 200), 32)):
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        resized = tf.image.resize(image, augment.shorter_side_size(shape, round(size * augment.EVAL_RESIZE)))
        np.testing.assert_allclose(augment.imagenet_eval(tf.constant(image), size), augment.center_crop(resized, size),
                                   atol=0.05)
        np.testing.assert_allclose(augment.imagenet_ten_crop(tf.constant(image), size),
                                   augment.ten_crops(resized, size), atol=0.05)


def _write_big_tree(root, classes=20, per_class=600):
    """``classes x per_class`` tiny JPEGs (12,000 by default: more than any shuffle buffer held) and 1 per class in
    val/; a few encoded images are reused, the labels come from the folders."""
    rng = np.random.default_rng(0)
    encoded = [tf.io.encode_jpeg(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).numpy() for _ in range(4)]
    for split, count in (("train", per_class), ("val", 1)):
        for label in range(classes):
            folder = root / split / f"n{label:03d}"
            folder.mkdir(parents=True)
            for index in range(count):
                (folder / f"{index}.JPEG").write_bytes(encoded[index % len(encoded)])
    return root


def test_image_folders_are_shuffled_whole_every_epoch(tmp_path):
    """[He16] trains on uniformly shuffled batches: on a folder listed class by class, each batch of 32 holds about
    as many classes as a uniform shuffle gives (16.1 of 20), not the 1-2 of a stream; epochs differ; an epoch
    depends on (seed, epoch) only."""
    source = data.load("imagenet", data_dir=_write_big_tree(tmp_path), image_size=8)
    assert source.num_train == 12_000
    steps, classes, per_class, batch = 10, 20, 600, 32

    def labels(epochs, start_epoch=0, seed=1):
        batches = data.train_dataset(source, batch, epochs, start_epoch, seed=seed, steps=steps)
        return np.array([y.numpy() for _, y in batches]).reshape(epochs - start_epoch, steps, batch)

    full = labels(2)
    missing = np.prod([(classes * per_class - per_class - i) / (classes * per_class - i) for i in range(batch)])
    expected = classes * (1 - missing)  # distinct classes in 32 draws without replacement
    distinct = np.array([[len(set(b)) for b in epoch] for epoch in full])
    assert abs(distinct.mean() - expected) < 1.0 and distinct.min() >= expected - 5
    assert len(set(full[0].ravel())) == classes  # the first batches already span every class
    assert (full[0] != full[1]).mean() > 0.8  # the two epochs are ordered differently
    np.testing.assert_array_equal(labels(2, start_epoch=1), full[1:])  # a resumed epoch 1 is epoch 1
    assert (labels(1, seed=2)[0] != full[0]).mean() > 0.8


@pytest.mark.parametrize("dataset", ["imagenet", "folder"])
def test_epochs_streamed_as_one_are_the_epochs_in_turn(tmp_path, dataset):
    """A folder's epochs are read by one parallel map over all of them (``ShuffledFiles.epochs``): the examples and
    augmentation seeds must be those of its epochs taken one by one (``train_epoch``), in turn."""
    rng = np.random.default_rng(0)
    root = tmp_path / "tree"
    for split, count in (("train", 7), ("val", 2)):
        for label in range(3):
            (root / split / f"c{label}").mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                (root / split / f"c{label}" / f"{index}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    if dataset == "imagenet":
        source = data.load("imagenet", data_dir=str(root), image_size=8)
    else:
        source = data.load("folder", data_dir=str(root / "train"), image_size=8, val_fraction=0.25)
    assert hasattr(source.shuffle_train, "epochs")
    one_by_one = dataclasses.replace(source, shuffle_train=lambda epoch_seed: source.shuffle_train(epoch_seed))
    seeds, count = [5, 9, 1_000_003], source.num_train - 2
    streamed, expected = (list(s.train_epochs(seeds, count, lambda image, seed: (image, seed)).as_numpy_iterator())
                          for s in (source, one_by_one))
    assert len(streamed) == len(seeds) * count == len(expected)
    for ((image, seed), label), ((image_1, seed_1), label_1) in zip(streamed, expected):
        np.testing.assert_array_equal(image, image_1)
        assert label == label_1 and list(seed) == list(seed_1)
    assert [list(e[0][1]) for e in streamed[count - 1:count + 1]] == [[5, count - 1], [9, 0]]
    epochs = [[e[1] for e in streamed[k * count:(k + 1) * count]] for k in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]  # each epoch has its own order


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    """A text file named like a JPEG stops training with a one-line error naming it, through Keras' fit too."""
    import keras

    root = write_jpeg_tree(tmp_path)
    bad = root / "train" / "n02" / "x.JPEG"
    bad.write_text("not a picture\n")
    source = data.load("imagenet", data_dir=root, image_size=16)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        for _ in data.train_dataset(source, batch_size=10, epochs=1):
            pass
    named = data.unreadable_image(raised.value)
    assert isinstance(named, ValueError) and "\n" not in str(named)
    assert str(named).startswith(f"{bad} is not a JPEG, PNG, GIF or BMP image")
    assert data.unreadable_image(tf.errors.InvalidArgumentError(None, None, "another failure")) is None

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(data.UnreadableImageError, match=f"^{bad} is not a JPEG"):
        with data.naming_unreadable_images():
            model.fit(data.train_dataset(source, batch_size=10, epochs=1), verbose=0)
    (root / "val" / "n01" / "notes.jpg").write_bytes(b"\x00" * 64)
    source = data.load("imagenet", data_dir=root, image_size=16)
    with pytest.raises(data.UnreadableImageError, match="notes.jpg is not a JPEG"):
        with data.naming_unreadable_images():
            list(data.eval_dataset(source, batch_size=4))


def test_a_truncated_or_damaged_image_is_named(tmp_path):
    """A file that starts like an image but cannot be decoded fails in TensorFlow's decoder, whose message has no
    path: the error names the file, for a JPEG cut short in training (found by searching the listed files) and,
    once that one is mended, a PNG cut short in validation."""
    root = write_jpeg_tree(tmp_path, per_class=4)
    bad = root / "train" / "n02" / "img1.JPEG"
    bad.write_bytes(bad.read_bytes()[:200])
    source = data.load("imagenet", data_dir=root, image_size=16)
    with pytest.raises(data.UnreadableImageError, match=f"^{bad} cannot be decoded .*truncated or damaged"):
        with data.naming_unreadable_images():
            for _ in data.train_dataset(source, batch_size=4, epochs=2):
                pass
    bad.write_bytes(tf.io.encode_jpeg(np.zeros((48, 64, 3), np.uint8)).numpy())  # mended
    png = root / "val" / "n03" / "img9.png"
    png.write_bytes(tf.io.encode_png(np.zeros((40, 40, 3), np.uint8)).numpy()[:60])
    source = data.load("imagenet", data_dir=root, image_size=16)
    with pytest.raises(data.UnreadableImageError, match=f"^{png} cannot be decoded"):
        with data.naming_unreadable_images():
            list(data.eval_dataset(source, batch_size=4))


def test_the_search_for_an_undecodable_image_keeps_order_past_its_buffers(tmp_path):
    """``first_undecodable`` decodes in parallel: among 600 files with damaged ones at 437 and 500 it names 437."""
    good = tf.io.encode_jpeg(np.full((20, 30, 3), 90, np.uint8)).numpy()
    paths = []
    for index in range(600):
        path = tmp_path / f"{index}.jpg"
        path.write_bytes(good[:100] if index in (437, 500) else good)
        paths.append(str(path))
    assert data.source.first_undecodable(paths) == paths[437]
    assert data.source.first_undecodable(paths[:437]) is None and data.source.first_undecodable([]) is None


def _class_tree(root, train, val, per_class=2):
    """``root/train/<class>/`` and ``root/val/<class>/`` of ``per_class`` small JPEGs for the names in ``train``
    and ``val``."""
    encoded = tf.io.encode_jpeg(np.full((12, 16, 3), 90, np.uint8)).numpy()
    for split, names in (("train", train), ("val", val)):
        for name in names:
            (root / split / name).mkdir(parents=True)
            for index in range(per_class):
                (root / split / name / f"{index}.jpg").write_bytes(encoded)
    return root


@pytest.mark.parametrize("train, val, message", [
    (["a", "b"], ["a", "b", "z"], r"same class folders \(only in '.*val': 'z'\)"),
    (["a", "b", "c"], ["a", "b"], r"same class folders \(only in '.*train': 'c'\)"),
    (["cat", "dog"], ["Cat", "Dog"], r"only in case \('cat' / 'Cat', 'dog' / 'Dog'\): rename them"),
])
@pytest.mark.parametrize("dataset", ["folder", "imagenet"])
def test_a_validation_folder_with_other_classes_is_refused(tmp_path, train, val, message, dataset):
    """A val/ folder is used as it is or refused in one line: a class of one side only was dropped (or never
    validated) without a word, and class folders that differ in case made the folder reader ignore val/."""
    root = _class_tree(tmp_path, train, val)
    with pytest.raises(data.DatasetNotFoundError, match=message) as raised:
        data.load(dataset, str(root), image_size=16)
    assert "\n" not in str(raised.value)


def test_a_validation_folder_without_images_is_refused(tmp_path):
    """Not silently replaced by a split of train/."""
    root = _class_tree(tmp_path, ["a", "b"], ["a", "b"], per_class=3)
    for path in (root / "val").rglob("*.jpg"):
        path.unlink()
    with pytest.raises(data.DatasetNotFoundError, match=r"val' has no images .* or remove it"):
        data.load("folder", str(root), image_size=16)


@pytest.mark.parametrize("dataset", ["folder", "imagenet"])
def test_a_broken_link_is_named_when_the_folder_is_listed(tmp_path, dataset):
    root = _class_tree(tmp_path, ["a", "b"], ["a", "b"])
    broken = root / "train" / "a" / "broken.jpg"
    broken.symlink_to(tmp_path / "nonexistent" / "x.jpg")
    (root / "val" / "b" / "fine.jpg").symlink_to(root / "val" / "b" / "0.jpg")  # a link to an image is an image
    with pytest.raises(data.UnreadableImageError, match=f"^{broken} is a broken link .*nonexistent/x.jpg"):
        data.load(dataset, str(root), image_size=16)
    broken.unlink()
    assert data.load(dataset, str(root), image_size=16).num_test == 5


def test_an_image_gone_during_a_run_is_named(tmp_path):
    """A file deleted after the folder was listed fails in ``tf.io.read_file``: the error names it, from a loop over
    the training split, from Keras' fit and from the validation split."""
    import keras

    root = write_jpeg_tree(tmp_path, per_class=4)
    source = data.load("folder", str(root), image_size=16)
    gone = root / "train" / "n02" / "img1.JPEG"
    gone.unlink()
    with pytest.raises(data.UnreadableImageError, match=f"^{gone} is gone .*: restore it, or rerun"):
        with data.naming_unreadable_images():
            for _ in data.train_dataset(source, batch_size=4, epochs=1):
                pass
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(data.UnreadableImageError, match=f"^{gone} is gone"):
        with data.naming_unreadable_images():
            model.fit(data.train_dataset(source, batch_size=4, epochs=1), verbose=0)
    gone = root / "val" / "n01" / "img3.JPEG"
    gone.unlink()
    with pytest.raises(data.UnreadableImageError, match=f"^{gone} is gone"):
        with data.naming_unreadable_images():
            list(data.eval_dataset(source, batch_size=4))
    other = tf.errors.NotFoundError(None, None, "/elsewhere/model.ckpt; No such file or directory")
    assert data.unreadable_image(other) is None  # not a listed image: left as it is


def test_a_folders_validation_split_is_repeated_from_its_record(tmp_path):
    """A folder without val/ records how it was split; ``validation_split`` repeats it on the same files only."""
    from keras_resnet.data import folder

    root = _class_tree(tmp_path, ["a", "b"], ["a", "b"], per_class=5)
    flat = root / "train"  # class folders without a val/ beside them
    source = data.load("folder", str(flat), image_size=16, val_fraction=0.4, seed=3)
    assert source.split == {"seed": 3, "val_fraction": 0.4, "files": source.files}
    paths, labels, names = folder.validation_split(flat, source.split)
    expected = folder._splits(str(flat), 0.4, 3)
    assert (paths, labels.tolist(), names) == (expected[2], expected[3].tolist(), ["a", "b"]) and len(paths) == 4
    assert folder.validation_split(flat, {**source.split, "val_fraction": 0.2}) is None  # not the files it split
    given = data.load("folder", str(root), image_size=16)
    assert given.split is None  # its own val/: nothing held out, even for a record that names its files
    assert folder.validation_split(root, {"seed": 0, "val_fraction": 0.2, "files": given.files}) is None
