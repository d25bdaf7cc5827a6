"""The zoo's parameter counts against the same networks written in torch.nn by hand
(torchvision is not imported: AlexNet is torchvision's layout, layer by layer).

The torch modules are created on the "meta" device: shapes without memory or initialisation.
Each npconv layer's weights must have the torch layer's shapes after the layout transposes.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from npconv.models import zoo  # noqa: E402


def _torch_shapes(module):
    """Per Conv2d/Linear/BatchNorm2d: the npconv-layout weight shapes (buffers included for BN,
    since Keras counts the moving statistics)."""
    out = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            c_out, c_in, kh, kw = m.weight.shape
            out.append([(kh, kw, c_in, c_out), (c_out,)])
        elif isinstance(m, nn.Linear):
            n_out, n_in = m.weight.shape
            out.append([(n_in, n_out), (n_out,)])
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            out.append([(c,)] * 4)
    return out


def _npconv_shapes(model):
    return [[w.shape for w in layer.weights] for layer in model.layers if layer.weights]


def _torch_params(module):
    return sum(p.numel() for p in module.parameters())


def test_alexnet_equals_torchvision_layout():
    with torch.device("meta"):
        features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 1000),
        )
        net = nn.Sequential(features, nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(), classifier)
        assert features(torch.empty(1, 3, 224, 224)).shape == (1, 256, 6, 6)
    assert _torch_params(net) == 61_100_840
    model = zoo.alexnet()
    assert model.count_params() == _torch_params(net)
    assert _npconv_shapes(model) == _torch_shapes(net)


def test_mnist_cnn_seed001():
    with torch.device("meta"):
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 3 * 3, 10))
    model = zoo.mnist_cnn()
    assert model.count_params() == _torch_params(net) == 104_202
    assert _npconv_shapes(model) == _torch_shapes(net)


def test_strided_cnn_seed003():
    # seed 003's IRISClassifier (its MNIST CNN), as written there
    with torch.device("meta"):
        net = nn.Sequential(
            nn.Sequential(
                nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3, padding=1, stride=2),
                nn.ReLU(),
                nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3, padding=1, stride=2),
                nn.ReLU(),
                nn.Conv2d(in_channels=64, out_channels=128, kernel_size=3, padding=1, stride=3),
                nn.ReLU(),
            ),
            nn.Sequential(nn.Flatten(), nn.Linear(128 * 3 * 3, 128), nn.ReLU(),
                          nn.Linear(128, 10)),
        )
        assert net[0](torch.empty(1, 1, 28, 28)).shape == (1, 128, 3, 3)
    model = zoo.strided_cnn()
    assert model.count_params() == _torch_params(net)
    assert _npconv_shapes(model) == _torch_shapes(net)


def test_same_cnn_seed002():
    # seed 002's Convolutional module (its avg_pool line fixed to an attribute)
    with torch.device("meta"):
        net = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16, eps=1e-5,
                                                                       momentum=0.1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1, stride=2), nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.AvgPool2d(kernel_size=4, stride=4, padding=0, count_include_pad=False),
            nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
        assert net[:7](torch.empty(1, 3, 32, 32)).shape == (1, 32, 4, 4)
    model = zoo.same_cnn()
    trainable = sum(w.value.size for w in model.trainable_weights)
    assert trainable == _torch_params(net) == 10_314
    buffers = sum(b.numel() for name, b in net.named_buffers() if "running" in name)
    assert model.count_params() == trainable + buffers == 10_410
    assert _npconv_shapes(model) == _torch_shapes(net)


def test_lenet5():
    with torch.device("meta"):
        net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))
    model = zoo.lenet5()
    assert model.count_params() == _torch_params(net) == 61_706
    assert _npconv_shapes(model) == _torch_shapes(net)
