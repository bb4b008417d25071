"""Deployment: SavedModel for TF Serving, TFLite/LiteRT, ONNX and OpenVINO, with parity reports."""

from keras_resnet.export.onnx_openvino import export_portable
from keras_resnet.export.parity import format_report
from keras_resnet.export.saved_model import export_saved_model
from keras_resnet.export.tflite import VARIANTS, export_tflite

__all__ = ["VARIANTS", "export_portable", "export_saved_model", "export_tflite", "format_report"]
