import pytest

from keras_resnet.models.architectures import CIFAR, IMAGENET, cifar_layout, imagenet_layout


@pytest.mark.parametrize("depth, n", [(20, 3), (32, 5), (44, 7), (56, 9), (110, 18), (1202, 200)])
def test_cifar_depth_is_6n_plus_2(depth, n):
    assert cifar_layout(depth) == ("basic", (n, n, n))


def test_cifar_bottleneck_depth_is_9n_plus_2():
    assert cifar_layout(164, "bottleneck") == ("bottleneck", (18, 18, 18))
    assert cifar_layout(1001, "bottleneck") == ("bottleneck", (111, 111, 111))


@pytest.mark.parametrize("depth", [21, 2, 7, "20"])
def test_bad_cifar_depth_names_the_rule(depth):
    with pytest.raises(ValueError, match=rf"depth must be 6n\+2 for CIFAR ResNets.*got {depth}"):
        cifar_layout(depth)


def test_imagenet_table():
    assert imagenet_layout(34) == ("basic", (3, 4, 6, 3))
    assert imagenet_layout(152) == ("bottleneck", (3, 8, 36, 3))
    with pytest.raises(ValueError, match="defined for depths"):
        imagenet_layout(42)


def test_total_stride():
    assert IMAGENET.total_stride == 32 and CIFAR.total_stride == 4
