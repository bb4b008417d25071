"""Error rates as the paper reports them: top-1 and top-5 error, ``1 - accuracy``."""

import keras


@keras.saving.register_keras_serializable(package="keras_resnet")
class TopKError(keras.metrics.SparseTopKCategoricalAccuracy):
    """Fraction of examples whose label is not among the ``k`` highest scores ([He16] Tables 2-4, 6).

    Inputs: labels ``(batch,)`` int, scores ``(batch, classes)``. Result: a scalar in [0, 1].
    """

    def __init__(self, k=1, name=None, **kwargs):
        super().__init__(k=k, name=name or f"top{k}_error", **kwargs)

    def result(self):
        return 1.0 - super().result()
