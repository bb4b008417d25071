"""Image augmentation of [He16], as stateless tf ops: each image's randomness is a function of a seed pair.

Stateless randomness makes an epoch a pure function of ``(seed, epoch)``, so a resumed run sees exactly the images
that an uninterrupted run would have seen. Images are float32 in [0, 255]; mean subtraction happens in the model.
"""

import tensorflow as tf

CIFAR_PADDING = 4
# ImageNet scale augmentation: shorter side in [256, 480] for 224 crops ([He16] Sec. 3.4); scaled with the crop size.
SCALE_RANGE = (256 / 224, 480 / 224)
EVAL_RESIZE = 256 / 224
# AlexNet-style PCA lighting (Krizhevsky et al. 2012): eigenvalues / eigenvectors of the RGB covariance of ImageNet
# pixels in [0, 1], and the standard deviation of the random weights.
PCA_EIGENVALUES = (0.2175, 0.0188, 0.0045)
PCA_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
PCA_STDDEV = 0.1


def decode(image):
    """Encoded JPEG/PNG bytes -> uint8 ``(H, W, 3)``; a uint8 image passes through."""
    if image.dtype == tf.string:
        return tf.io.decode_image(image, channels=3, expand_animations=False)
    return image


def cifar_train(image, seed, size=32, flip=True):
    """[He16] Sec. 4.2: pad 4 pixels with zeros, random ``size`` crop, random horizontal flip. -> float32."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    image = tf.cast(image, tf.float32)
    image = tf.pad(image, [[CIFAR_PADDING, CIFAR_PADDING], [CIFAR_PADDING, CIFAR_PADDING], [0, 0]])
    image = tf.image.stateless_random_crop(image, (size, size, 3), seed=seeds[0])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return image


def resize_shorter_side(image, side):
    """Resizes so that the shorter side is ``side`` pixels, keeping the aspect ratio. -> float32."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    new_size = tf.cast(tf.round(shape * scale), tf.int32)
    return tf.image.resize(image, tf.maximum(new_size, side), method="bilinear", antialias=True)


def pca_lighting(image, seed, stddev=PCA_STDDEV):
    """Adds ``eigenvectors @ (alpha * eigenvalues) * 255`` to every pixel, ``alpha ~ N(0, stddev)``."""
    alpha = tf.random.stateless_normal((3,), seed=seed, stddev=stddev)
    rgb = tf.linalg.matvec(tf.constant(PCA_EIGENVECTORS), alpha * tf.constant(PCA_EIGENVALUES))
    return image + 255.0 * rgb


def random_shorter_side(seed, size=224):
    """The scale augmentation's random shorter side: uniform in [256, 480] for 224 crops (scaled with ``size``)."""
    low, high = round(size * SCALE_RANGE[0]), round(size * SCALE_RANGE[1])
    return tf.random.stateless_uniform((), seed, minval=low, maxval=high + 1, dtype=tf.int32)


def imagenet_train(image, seed, size=224, flip=True):
    """[He16] Sec. 3.4: shorter side random in [256, 480] (for 224), random crop, flip, PCA lighting. -> float32."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    image = resize_shorter_side(decode(image), random_shorter_side(seeds[0], size))
    image = tf.image.stateless_random_crop(image, (size, size, 3), seed=seeds[1])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[2])
    return tf.clip_by_value(pca_lighting(image, seeds[3]), 0.0, 255.0)


def center_crop(image, size):
    offset_y = (tf.shape(image)[0] - size) // 2
    offset_x = (tf.shape(image)[1] - size) // 2
    return tf.image.crop_to_bounding_box(image, offset_y, offset_x, size, size)


def imagenet_eval(image, size=224):
    """Shorter side resized to 256 (for 224), centre ``size`` crop. -> float32 ``(size, size, 3)``."""
    return center_crop(resize_shorter_side(decode(image), round(size * EVAL_RESIZE)), size)


def ten_crops(image, size):
    """The 10-crop test of [He16] Sec. 3.4: four corners and centre, and their flips. -> ``(10, size, size, 3)``."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    offsets = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size),
               ((height - size) // 2, (width - size) // 2)]
    crops = tf.stack([tf.image.crop_to_bounding_box(image, y, x, size, size) for y, x in offsets])
    return tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)


def imagenet_ten_crop(image, size=224):
    """Resize the shorter side to 256 (for 224), then ``ten_crops``. -> float32 ``(10, size, size, 3)``."""
    return ten_crops(resize_shorter_side(decode(image), round(size * EVAL_RESIZE)), size)


def cifar_ten_crop(image, size=32):
    """10 crops of the zero-padded CIFAR image (as in training). -> float32 ``(10, size, size, 3)``."""
    image = tf.cast(image, tf.float32)
    padded = tf.pad(image, [[CIFAR_PADDING, CIFAR_PADDING], [CIFAR_PADDING, CIFAR_PADDING], [0, 0]])
    return ten_crops(padded, size)
