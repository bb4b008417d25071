import keras
import pytest

import keras_resnet
from keras_resnet.applications.registry import REGISTRY, spec
from keras_resnet.models.spec import ArchSpec


def test_list_models_has_the_papers_networks():
    names = keras_resnet.list_models()
    for expected in ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202", "plain20",
                     "plain56", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
                     "resnet50v2", "resnet164v2", "resnet1001v2"]:
        assert expected in names
    assert names.index("resnet20") < names.index("resnet18")  # CIFAR first
    assert len(names) == len(set(names)) == len(REGISTRY)


def test_any_cifar_depth_by_name():
    assert spec("plain38") == ArchSpec("cifar", "basic", (6, 6, 6), "none")
    assert spec("ResNet86V2") == ArchSpec("cifar", "basic", (14, 14, 14), "A", preact=True)
    model = keras_resnet.build("plain38")
    assert model.name == "plain38" and len([l for l in model.layers if isinstance(l, keras.layers.Conv2D)]) == 37


def test_name_option_names_the_model():
    assert keras_resnet.build("resnet20", name="mine").name == "mine"


@pytest.mark.parametrize("bad", ["vgg16", "", None, 50])
def test_unknown_names(bad):
    with pytest.raises(ValueError, match="Unknown architecture"):
        keras_resnet.build(bad)


def test_the_name_grammar_round_trips_every_registered_spec():
    for name, registered in REGISTRY.items():
        assert registered.name == name and spec(name) is registered


def test_a_model_carries_its_spec_through_saving(tmp_path):
    model = keras_resnet.build("resnet20", width=2, shortcut="B")
    assert model.spec == spec("resnet20").replace(width=2, shortcut="B")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.spec == model.spec and loaded.spec.block_names[:2] == ["conv2_block1", "conv2_block2"]


def test_unknown_architecture_options_name_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown architecture option\(s\) widht: the options are family, block"):
        spec("resnet20").replace(widht=2)
