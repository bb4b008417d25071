"""Deployment (TensorFlow-only): SavedModel for TF Serving and TFLite/LiteRT with a parity report."""

from keras_resnet.export.saved_model import export_saved_model
from keras_resnet.export.tflite import VARIANTS, export_tflite, format_report

__all__ = ["VARIANTS", "export_saved_model", "export_tflite", "format_report"]
