import keras
import numpy as np

from keras_resnet.models.metrics import TopKError


def test_top_k_error_is_one_minus_top_k_accuracy():
    labels = np.array([0, 1, 2, 3])
    scores = np.array([[0.9, 0.05, 0.05, 0.0],   # right
                       [0.5, 0.3, 0.2, 0.0],     # second best
                       [0.1, 0.6, 0.0, 0.3],     # last
                       [0.2, 0.3, 0.1, 0.4]], "float32")  # right
    top1, top2 = TopKError(1), TopKError(2)
    top1.update_state(labels, scores)
    top2.update_state(labels, scores)
    assert float(top1.result()) == 0.5 and float(top2.result()) == 0.25
    assert (top1.name, top2.name) == ("top1_error", "top2_error")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(top2))
    assert isinstance(clone, TopKError) and clone.k == 2
