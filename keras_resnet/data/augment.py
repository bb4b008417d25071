"""Image augmentation of [He16], as stateless tf ops: each image's randomness is a function of a seed pair.

Stateless randomness makes an epoch a pure function of ``(seed, epoch)``, so a resumed run sees exactly the images
that an uninterrupted run would have seen. Images are float32 in [0, 255]; mean subtraction happens in the model.

Every ImageNet view is a window in source pixels computed from the image's shape alone, so a JPEG is decoded only
inside it (``tf.io.decode_and_crop_jpeg``); other formats (PNG, GIF, BMP) are decoded whole and take the same
windows.

- Training (scale augmentation, Sec. 3.4): the shorter side ``s`` is drawn from [256, 480] as in the paper and the
  224 crop of the image resized to ``s`` is taken in source pixels: a square window of side
  ``round(224 * shorter / s)`` at a uniformly random position, resized to 224 x 224. The distribution of crops
  (scale and position) is that of "resize the shorter side to ``s``, random crop" up to the rounding of the window
  to whole source pixels (under 0.3 % in scale); only the window is decoded and resized.
- Evaluation (centre crop, 10 crops): the views are exactly those of resizing the whole image and cropping it,
  sampled from the decoded window at the positions where that resize samples (``Views``).
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
# Windows shrunk by more than this factor are resampled with an antialiasing (area-weighted triangle) filter;
# milder scalings use plain bilinear sampling (fewer taps), whose aliasing there is negligible.
ANTIALIAS_ABOVE = 2.0
# Leading bytes of the encoded formats ``tf.io.decode_image`` reads.
IMAGE_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"GIF8": "GIF", b"BM": "BMP"}
JPEG_SIGNATURE = b"\xff\xd8\xff"


def is_image(image_bytes):
    """Whether encoded bytes start like a JPEG, PNG, GIF or BMP file. -> bool scalar tensor."""
    return tf.reduce_any([tf.strings.substr(image_bytes, 0, len(magic)) == magic for magic in IMAGE_SIGNATURES])


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


def cifar_train_batch(images, seed, size=32, flip=True):
    """``cifar_train`` of a whole batch at once: uint8 ``(B, H, W, 3)`` -> float32 ``(B, size, size, 3)``.

    Each image gets its own crop offsets (uniform over the padded image's positions) and flip, as in
    ``cifar_train``, drawn for the batch from the one stateless ``seed``; the crop and the flip are one gather of
    rows and one of columns (a flip reverses the columns gathered), not a chain of ops per image.
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch = tf.shape(images)[0]
    padded = tf.pad(tf.cast(images, tf.float32),
                    [[0, 0], [CIFAR_PADDING, CIFAR_PADDING], [CIFAR_PADDING, CIFAR_PADDING], [0, 0]])
    steps = tf.range(size)
    rows, cols = (steps + tf.random.stateless_uniform(
        (batch, 1), seed=seeds[axis], maxval=tf.shape(padded)[axis + 1] - size + 1, dtype=tf.int32) for axis in (0, 1))
    if flip:
        flipped = tf.random.stateless_uniform((batch, 1), seed=seeds[2]) < 0.5
        cols = tf.where(flipped, tf.reverse(cols, axis=[1]), cols)
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def shorter_side_size(shape, side):
    """``(height, width)`` int32 of an image of ``shape`` ``(H, W)`` resized so that its shorter side is ``side``."""
    shape = tf.cast(shape, tf.float32)
    scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    return tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), side)


def resize_shorter_side(image, side):
    """Resizes the whole image so that the shorter side is ``side`` pixels, keeping the aspect ratio (antialiased).

    The reference that the windowed views reproduce. ``(H, W, 3)`` -> float32 ``(H', W', 3)``.
    """
    return tf.image.resize(image, shorter_side_size(tf.shape(image)[:2], side), method="bilinear", antialias=True)


def pca_lighting(image, seed, stddev=PCA_STDDEV):
    """Adds ``eigenvectors @ (alpha * eigenvalues) * 255`` to every pixel, ``alpha ~ N(0, stddev)``."""
    alpha = tf.random.stateless_normal((3,), seed=seed, stddev=stddev)
    rgb = 255.0 * tf.linalg.matvec(tf.constant(PCA_EIGENVECTORS), alpha * tf.constant(PCA_EIGENVALUES))
    # The same sum as ``image + rgb``, added to rows of W * 3 values: broadcasting a 3-vector over two axes is
    # TensorFlow's slow CPU path (~160 us for a 224x224 image, against ~65 us as rows).
    shape = tf.shape(image)
    rows = tf.reshape(image, tf.stack([-1, shape[-2] * shape[-1]])) + tf.tile(rgb, shape[-2:-1])
    return tf.reshape(rows, shape)


def random_shorter_side(seed, size=224):
    """The scale augmentation's random shorter side: uniform in [256, 480] for 224 crops (scaled with ``size``)."""
    low, high = round(size * SCALE_RANGE[0]), round(size * SCALE_RANGE[1])
    return tf.random.stateless_uniform((), seed, minval=low, maxval=high + 1, dtype=tf.int32)


def random_offset(shape, size, seed):
    """The top-left corner ``(y, x)`` int32 of a uniformly random ``size`` (``(h, w)``) window of an image of
    ``shape`` ``(H, W)``: the draw of ``tf.image.stateless_random_crop`` on an ``(H, W, 3)`` image with the same
    seed."""
    limit = tf.concat([shape - size + 1, [1]], axis=0)
    return (tf.random.stateless_uniform((3,), seed, maxval=tf.int32.max, dtype=tf.int32) % limit)[:2]


def train_window(shape, seeds, size=224):
    """[He16] Sec. 3.4's scale augmentation as a window in source pixels: ``(y, x, side, side)`` int32 of an image of
    ``shape`` ``(H, W)``.

    The shorter side drawn by ``random_shorter_side(seeds[0])`` gives the window side
    ``round(size * min(H, W) / shorter_side)`` (the ``size`` crop of the resized image, in source pixels); its
    position is uniform (``random_offset(seeds[1])``).
    """
    shape = tf.cast(shape, tf.int32)
    side = tf.cast(random_shorter_side(seeds[0], size), tf.float32)
    window = tf.cast(tf.round(size * tf.cast(tf.reduce_min(shape), tf.float32) / side), tf.int32)
    window = tf.clip_by_value(window, 1, tf.reduce_min(shape))
    return tf.concat([random_offset(shape, tf.stack([window, window]), seeds[1]), [window, window]], axis=0)


def resize_window(window, size):
    """A decoded window uint8 ``(h, w, 3)`` -> float32 ``(size, size, 3)``: bilinear, antialiased only where the
    window shrinks by more than ``ANTIALIAS_ABOVE``."""
    shrink = tf.cast(tf.reduce_max(tf.shape(window)[:2]), tf.float32) / size
    return tf.cond(shrink > ANTIALIAS_ABOVE, lambda: tf.image.resize(window, (size, size), antialias=True),
                   lambda: tf.image.resize(window, (size, size)))


class Views:
    """``size x size`` views of an image resized to ``resized``, as sampling positions in source pixels.

    ``offsets`` ``(n, 2)`` are the views' top-left corners in the resized image; ``mirrored`` ``(n,)`` bool (default
    none) marks views sampled right to left, i.e. horizontally flipped. Resizing ``(H, W)`` to ``(H', W')`` samples
    output pixel ``i`` at source position ``(i + 0.5) * H / H' - 0.5`` (pixel centres), so view ``k`` starts at
    ``starts[k] = (offsets[k] + 0.5) * step - 0.5`` and advances ``step = (H / H', W / W')`` per pixel.
    """

    def __init__(self, shape, resized, offsets, size, mirrored=None):
        self.size = size
        self.step = tf.cast(shape, tf.float32) / tf.cast(resized, tf.float32)
        self.starts = (tf.cast(offsets, tf.float32) + 0.5) * self.step - 0.5
        self.mirrored = tf.zeros(tf.shape(self.starts)[:1], tf.bool) if mirrored is None else mirrored
        self.antialias = tf.reduce_max(self.step) > ANTIALIAS_ABOVE
        # Source pixels the views read: their sampling range plus the filter's reach (one step when antialiased).
        reach = tf.math.ceil(tf.maximum(self.step, 1.0)) + 1.0
        low = tf.math.floor(tf.reduce_min(self.starts, axis=0) - reach)
        high = tf.math.ceil(tf.reduce_max(self.starts, axis=0) + (size - 1) * self.step + reach) + 1.0
        shape = tf.cast(shape, tf.int32)
        self.origin = tf.clip_by_value(tf.cast(low, tf.int32), 0, shape)
        self.extent = tf.clip_by_value(tf.cast(high, tf.int32), 0, shape) - self.origin

    def resample(self, window):
        """The views from the decoded window ``uint8 (h, w, 3)`` at ``origin``. -> float32 ``(n, size, size, 3)``.

        Bilinear views (windows shrunk by at most ``ANTIALIAS_ABOVE``) are one ``crop_and_resize`` of the window,
        whose boxes put the first and last samples exactly at the views' source positions (swapped for mirrored
        views, which costs nothing). Strongly shrunk views are antialiased with ``ScaleAndTranslate``, the op behind
        ``tf.image.resize(..., antialias=True)``, sampling each view at its sub-pixel start.
        """
        starts = self.starts - tf.cast(self.origin, tf.float32)
        ends = starts + (self.size - 1) * self.step
        return tf.cond(self.antialias, lambda: self._antialiased(window, starts),
                       lambda: self._bilinear(window, starts, ends))

    def _bilinear(self, window, starts, ends):
        # Resizing clamps samples that fall outside the image to its edge (up to half a pixel beyond it, where an
        # upscaled view touches the border); crop_and_resize would extrapolate, so the window then gets a one-pixel
        # border repeating its edge.
        last = tf.cast(tf.shape(window)[:2] - 1, tf.float32)
        outside = tf.reduce_any(starts < 0.0) | tf.reduce_any(ends > last)
        window = tf.cond(outside, lambda: _repeat_edges(window), lambda: window)
        border = tf.cast(outside, tf.float32)
        last = tf.maximum(tf.cast(tf.shape(window)[:2] - 1, tf.float32), 1.0)
        low, high = (starts + border) / last, (ends + border) / last
        left = tf.where(self.mirrored, high[:, 1], low[:, 1])
        right = tf.where(self.mirrored, low[:, 1], high[:, 1])
        boxes = tf.stack([low[:, 0], left, high[:, 0], right], axis=1)
        return tf.image.crop_and_resize(window[None], boxes, tf.zeros(tf.shape(boxes)[:1], tf.int32),
                                        [self.size, self.size])

    def _antialiased(self, window, starts):
        image, scale = window[None], 1.0 / self.step
        views = tf.concat([tf.raw_ops.ScaleAndTranslate(
            images=image, size=[self.size, self.size], scale=scale, translation=0.5 - (start + 0.5) * scale,
            kernel_type="triangle", antialias=True) for start in tf.unstack(starts, num=starts.shape[0])], axis=0)
        return tf.where(self.mirrored[:, None, None, None], tf.reverse(views, axis=[2]), views)


def _repeat_edges(image):
    """``(h, w, c)`` -> ``(h + 2, w + 2, c)``: a one-pixel border repeating the edge pixels."""
    image = tf.concat([image[:1], image, image[-1:]], axis=0)
    return tf.concat([image[:, :1], image, image[:, -1:]], axis=1)


def read_window(image, view):
    """``view(shape, crop)`` of an image whose pixels are read only inside the windows that ``view`` asks ``crop``
    for.

    ``image``: encoded bytes (JPEG: only the window is decoded; other formats whole) or a uint8 ``(H, W, 3)``
    image; ``view`` gets the ``(H, W)`` int32 shape and ``crop``: ``(y, x, h, w)`` int32 -> uint8 ``(h, w, 3)``,
    the pixels of the whole image's decode. A JPEG window is decoded with one more pixel on each side: the border
    pixels of a decoded window miss their neighbours' chroma (off by up to ~50 grey levels on busy images).
    """
    if image.dtype != tf.string:
        return view(tf.shape(image)[:2], lambda window: _cut(image, window[:2], window[2:]))

    def jpeg():
        shape = tf.image.extract_jpeg_shape(image)[:2]

        def crop(window):  # decoded with a one-pixel margin, then cut to the window
            low = tf.maximum(window[:2] - 1, 0)
            high = tf.minimum(window[:2] + window[2:] + 1, shape)
            pixels = tf.io.decode_and_crop_jpeg(image, tf.concat([low, high - low], axis=0), channels=3)
            return _cut(pixels, window[:2] - low, window[2:])
        return view(shape, crop)

    return tf.cond(tf.strings.substr(image, 0, len(JPEG_SIGNATURE)) == JPEG_SIGNATURE, jpeg,
                   lambda: read_window(decode(image), view))


def _cut(pixels, corner, size):
    """The ``size`` ``(h, w)`` part of ``pixels`` ``(H, W, 3)`` whose top-left corner is ``corner`` ``(y, x)``."""
    return tf.slice(pixels, tf.concat([corner, [0]], 0), tf.concat([size, [3]], 0))


def decode_views(image, views_of_shape):
    """Decodes only the window that the views need and resamples them. -> float32 ``(n, size, size, 3)``.

    ``image`` as for ``read_window``; ``views_of_shape``: ``(H, W)`` int32 -> ``Views``.
    """
    def view(shape, crop):
        views = views_of_shape(shape)
        return views.resample(crop(tf.concat([views.origin, views.extent], axis=0)))
    return read_window(image, view)


def imagenet_train(image, seed, size=224, flip=True):
    """[He16] Sec. 3.4: shorter side random in [256, 480] (for 224), random crop, flip, PCA lighting. -> float32
    ``(size, size, 3)``.

    The crop is ``train_window``'s window in source pixels (only it is decoded), flipped with
    ``stateless_random_flip_left_right`` and resized to ``size x size`` (see the module docstring).
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)

    def view(shape, crop):
        window = crop(train_window(shape, seeds, size))
        if flip:
            window = tf.image.stateless_random_flip_left_right(window, seed=seeds[2])
        return resize_window(window, size)

    return tf.clip_by_value(pca_lighting(read_window(image, view), seeds[3]), 0.0, 255.0)


def _eval_views(size, corners, resize=None):
    """``shape -> Views``: the centre crop, or (``corners``) the 10 crops of ``ten_crops``, of the image resized."""
    def views(shape):
        resized = shorter_side_size(shape, resize or round(size * EVAL_RESIZE))
        height, width = resized[0] - size, resized[1] - size
        offsets = [(0, 0), (0, width), (height, 0), (height, width)] if corners else []
        offsets = tf.stack([tf.stack(o) for o in offsets] + [tf.stack([height // 2, width // 2])])
        if not corners:
            return Views(shape, resized, offsets, size)
        mirrored = tf.repeat([False, True], offsets.shape[0])  # the five crops, then their mirror images
        return Views(shape, resized, tf.concat([offsets, offsets], axis=0), size, mirrored)
    return views


def center_crop(image, size):
    offset_y = (tf.shape(image)[0] - size) // 2
    offset_x = (tf.shape(image)[1] - size) // 2
    return tf.image.crop_to_bounding_box(image, offset_y, offset_x, size, size)


def imagenet_eval(image, size=224, resize=None):
    """Shorter side resized to ``resize`` (default 256 for 224), centre ``size`` crop (decoded and resampled in its
    window only).

    -> float32 ``(size, size, 3)``.
    """
    return decode_views(image, _eval_views(size, corners=False, resize=resize))[0]


def ten_crops(image, size):
    """The 10-crop test of [He16] Sec. 3.4: four corners and centre, and their flips. -> ``(10, size, size, 3)``."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    offsets = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size),
               ((height - size) // 2, (width - size) // 2)]
    crops = tf.stack([tf.image.crop_to_bounding_box(image, y, x, size, size) for y, x in offsets])
    return tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)


def imagenet_ten_crop(image, size=224, resize=None):
    """The ``ten_crops`` of the image with its shorter side resized to ``resize`` (default 256 for 224), each
    resampled (the mirrored five right to left) from the decoded window of the five crops.
    -> float32 ``(10, size, size, 3)``."""
    return decode_views(image, _eval_views(size, corners=True, resize=resize))


def cifar_ten_crop(image, size=32):
    """10 crops of the zero-padded CIFAR image (as in training). -> float32 ``(10, size, size, 3)``."""
    image = tf.cast(image, tf.float32)
    padded = tf.pad(image, [[CIFAR_PADDING, CIFAR_PADDING], [CIFAR_PADDING, CIFAR_PADDING], [0, 0]])
    return ten_crops(padded, size)
