"""The vocabularies of the library's options, in one module that imports nothing.

The library checks its arguments against these names and the ``keras-resnet`` command offers them as its choices, so
the command builds its parser, and prints ``--help``, without starting TensorFlow.
"""

DATASETS = ("digits", "cifar10", "cifar100", "imagenet", "folder")  # keras_resnet.data.load
STRATEGIES = ("auto", "mirrored", "multiworker", "tpu", "one_device")  # training.distribute.make_strategy
PRECISIONS = ("auto", "float32", "bfloat16", "float16")  # training.precision
JIT_COMPILE = ("auto", "on", "off")
TUNERS = ("random", "hyperband", "bayesian")  # tuning.make_tuner
PREPROCESSING = ("auto", "none", "caffe", "tf", "torch")  # what a model's graph does to its input images
TRANSFORMS = ("auto", "center_crop", "resize")  # how an image of any size becomes a model input (predict)
EXPORT_FORMATS = ("saved_model", "tflite", "onnx", "openvino")
# The modules each optional export format needs (pyproject's extras of the same names): checked before any work.
EXPORT_EXTRAS = {"onnx": ("onnx", "onnxruntime", "tf2onnx"), "openvino": ("openvino",)}
EXPORT_PRECISIONS = ("float32", "bfloat16")  # SavedModel export: the float32 model, or its mixed-bfloat16 twin
TFLITE_VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
PREDICTION_REPORTS = ("predictions.json", "predictions.csv")  # what predict --output-dir writes


def parse_freeze(mode):
    """``"none"`` -> ``("none", 0)``, ``"all"`` -> ``("all", 0)``, ``"stages 2"`` -> ``("stages", 2)``."""
    words = str(mode).replace("=", " ").replace(":", " ").split() if isinstance(mode, str) else []
    if words in (["none"], ["all"]):
        return words[0], 0
    if len(words) == 2 and words[0] == "stages" and words[1].isdigit() and int(words[1]) > 0:
        return "stages", int(words[1])
    raise ValueError(f"--freeze must be 'none', 'all' (all but the classifier) or 'stages N' (the stem and the first "
                     f"N stages, N >= 1), got {mode!r}.")
