"""The ``keras-resnet`` console command."""

from keras_resnet import cli


def test_summary_prints_parameters_and_flops(capsys):
    assert cli.main(["summary", "resnet20", "resnet18"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("resnet")}
    assert lines["resnet20"][-3:] == ["0.27", "0.041", "cifar10"]  # [He16] Table 6: 0.27M; 41M multiply-adds
    assert lines["resnet18"][-3:] == ["11.69", "1.814", "imagenet"]  # [He16] Table 1: 1.8e9 FLOPs; weights tag


def test_summary_bad_name_is_a_clear_error(capsys):
    assert cli.main(["summary", "resnt20"]) == 2
    err = capsys.readouterr().err
    assert "Unknown architecture 'resnt20'" in err and "'resnet20'" in err
