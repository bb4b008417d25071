"""Named constructors with the keras.applications signature: ``ResNet50(weights="imagenet")``, ``ResNet20()``...

Each is a thin wrapper over ``registry.build``, generated from the registry so that a registered name always has
its constructor: ``resnet50`` -> ``ResNet50``, ``resnet50v2`` -> ``ResNet50V2``, ``plain34`` -> ``Plain34``.
Constructors of networks with published weights default to ``weights="imagenet"`` (as keras.applications does)
and carry that default's preprocessing as ``.preprocess_input``; a model built with any tag carries its own,
``model.preprocess_input`` (its inference contract), which is the one to use with other tags.
"""

from keras_resnet.weights import records as weight_records
from keras_resnet.models.architectures import FAMILIES
from keras_resnet.applications.preprocessing import PREPROCESSING
from keras_resnet.applications.registry import REGISTRY, build, list_models
from keras_resnet.models.spec import constructor_name


def named_model(registry_name):
    """The keras.applications-style constructor of ``registry_name``."""
    spec = REGISTRY[registry_name]
    family = FAMILIES[spec.family]
    record = weight_records.find(registry_name, "imagenet")
    default_weights = "imagenet" if record is not None and record.layout == "keras" else None

    def constructor(include_top=True, weights=default_weights, input_tensor=None, input_shape=None, pooling=None,
                    classes=family.classes, classifier_activation="softmax", name=registry_name, **options):
        return build(registry_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
                     input_shape=input_shape, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, name=name, **options)

    constructor.__name__ = constructor.__qualname__ = constructor_name(registry_name)
    constructor.__doc__ = (
        f"Builds {registry_name}: {spec}.\n\n"
        f"Same arguments as keras.applications' constructors; extra keywords are ArchSpec fields or builder.ResNet "
        f"keywords.\nShapes: (batch, {family.input_size}, {family.input_size}, 3) -> (batch, {family.classes}) by "
        "default."
    )
    if spec.family == "imagenet":
        mode = "torch" if record is not None and record.layout == "torchvision" else (
            "tf" if spec.preact else "caffe")
        constructor.preprocess_input = PREPROCESSING[mode]
    return constructor


CONSTRUCTORS = {constructor_name(name): named_model(name) for name in list_models()}
globals().update(CONSTRUCTORS)
__all__ = sorted(CONSTRUCTORS)
