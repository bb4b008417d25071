import keras
import pytest

import keras_resnet
from keras_resnet.registry import REGISTRY, resolve


def test_list_models_has_the_papers_networks():
    names = keras_resnet.list_models()
    for expected in ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202", "plain20",
                     "plain56", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
                     "resnet50v2", "resnet164v2", "resnet1001v2"]:
        assert expected in names
    assert names.index("resnet20") < names.index("resnet18")  # CIFAR first
    assert len(names) == len(set(names)) == len(REGISTRY)


def test_any_cifar_depth_by_name():
    entry = resolve("plain38")
    assert (entry.family, entry.depth, entry.options) == ("cifar", 38, {"shortcut": "none"})
    assert resolve("ResNet86V2").options == {"preact": True}
    model = keras_resnet.build("plain38")
    assert model.name == "plain38" and len([l for l in model.layers if isinstance(l, keras.layers.Conv2D)]) == 37


def test_name_option_names_the_model():
    assert keras_resnet.build("resnet20", name="mine").name == "mine"


@pytest.mark.parametrize("bad", ["vgg16", "", None, 50])
def test_unknown_names(bad):
    with pytest.raises(ValueError, match="Unknown architecture"):
        keras_resnet.build(bad)
