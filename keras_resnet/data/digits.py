"""The UCI handwritten digits that scikit-learn ships: 1,797 real 8x8 images of 10 classes, no download.

Served as 32x32x3 uint8 images (bilinear upsampling, grey replicated to RGB) so that the CIFAR networks and the
CIFAR pipeline ([He16] Sec. 4.2) run on them unchanged; horizontal flips are off (a mirrored digit is another
symbol). A fixed, stratified 80/20 split holds out 360 test images.
"""

import numpy as np
import tensorflow as tf

from keras_resnet.data.source import from_arrays

TEST_SIZE = 360
CLASS_NAMES = [str(digit) for digit in range(10)]


def load(image_size=32, seed=0):
    """``DataSource`` of the digits at ``image_size`` x ``image_size`` x 3; train 1,437, test 360 images."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype("float32")[..., None] * (255.0 / 16.0)  # 0..16 grey levels -> 0..255
    images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    images = np.repeat(np.clip(np.round(images), 0, 255).astype("uint8"), 3, axis=-1)
    x_train, x_test, y_train, y_test = train_test_split(images, digits.target, test_size=TEST_SIZE,
                                                        stratify=digits.target, random_state=seed)
    return from_arrays("digits", (x_train, y_train), (x_test, y_test), CLASS_NAMES, flip=False)
