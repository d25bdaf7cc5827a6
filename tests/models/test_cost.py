"""layer_cost (model.summary(show_cost=True), npconv bench): every convolution's forward
multiply-adds, by hand and against torch's own FLOP counter, and its patch matrix bytes."""

import numpy as np
import pytest

from npconv import layers
from npconv.models.cost import layer_cost
from npconv.models.sequential import Sequential

# (layer, input shape, multiply-adds per sample, patch-matrix values per sample)
CASES = [
    # each output value: k * C_in / groups products; patches: every position, k * C_in
    (lambda: layers.Conv1D(32, 3), (100, 8), 98 * 32 * 3 * 8, 98 * 3 * 8),
    (lambda: layers.Conv1D(32, 3, groups=4, padding="causal"), (100, 8), 100 * 32 * 3 * 2,
     100 * 3 * 8),
    (lambda: layers.Conv2D(6, 3), (10, 10, 4), 8 * 8 * 6 * 9 * 4, 8 * 8 * 9 * 4),
    # each input value: k * filters products (its window of the output); no patch matrix
    (lambda: layers.Conv1DTranspose(16, 3, strides=2), (100, 8), 100 * 8 * 3 * 16, 0),
    (lambda: layers.Conv2DTranspose(16, 3, strides=2, padding="same"), (10, 10, 8),
     10 * 10 * 8 * 9 * 16, 0),
    # each output value: k products (one input channel); no patch matrix
    (lambda: layers.DepthwiseConv1D(3, depth_multiplier=2), (100, 8), 98 * 16 * 3, 0),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (10, 10, 8), 8 * 8 * 16 * 9, 0),
    # depthwise (C * dm values, k products each), then pointwise (filters values,
    # C * dm products each); patches: the pointwise step's (C * dm per position)
    (lambda: layers.SeparableConv1D(32, 3, depth_multiplier=2), (100, 8),
     98 * 16 * 3 + 98 * 32 * 16, 98 * 16),
    (lambda: layers.SeparableConv2D(32, 3), (10, 10, 8), 8 * 8 * 8 * 9 + 8 * 8 * 32 * 8,
     8 * 8 * 8),
    (lambda: layers.Dense(5), (7, 3), 7 * 5 * 3, 0),
]


@pytest.mark.parametrize("make, in_shape, macs, patches", CASES)
def test_convolution_costs(make, in_shape, macs, patches):
    layer = make()
    Sequential([layers.Input(in_shape), layer])
    for batch in (1, 3):
        cost = layer_cost(layer, batch_size=batch)
        out_values = batch * int(np.prod(layer.output_shape[1:]))
        assert cost == {"macs": batch * macs, "activation_bytes": 4 * out_values,
                        "im2col_bytes": 4 * batch * patches}


def test_channels_first_costs_the_same():
    for make in (lambda df: layers.Conv1D(4, 3, groups=2, data_format=df),
                 lambda df: layers.Conv1DTranspose(4, 3, strides=2, data_format=df),
                 lambda df: layers.SeparableConv2D(4, 3, data_format=df)):
        last, first = make("channels_last"), make("channels_first")
        if isinstance(last, layers.SeparableConv2D):
            Sequential([layers.Input((9, 7, 6)), last])
            Sequential([layers.Input((6, 9, 7)), first])
        else:
            Sequential([layers.Input((9, 6)), last])
            Sequential([layers.Input((6, 9)), first])
        assert layer_cost(first, 2) == layer_cost(last, 2)


def test_summary_totals_the_multiply_adds_of_a_1d_model():
    model = Sequential([layers.Input((20, 2)), layers.Conv1D(4, 3, name="a"),
                        layers.SeparableConv1D(3, 3, name="b"),
                        layers.Conv1DTranspose(2, 2, strides=2, name="c")])
    lines = []
    model.summary(print_fn=lines.append, show_cost=True, batch_size=2)
    a = 18 * 4 * 3 * 2
    b = 16 * 4 * 3 + 16 * 3 * 4
    c = 16 * 3 * 2 * 2
    assert f"Forward multiply-adds at batch 2: {2 * (a + b + c):,}" in lines


@pytest.mark.torch
def test_multiply_adds_are_torchs_flop_count_halved():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    F = torch.nn.functional

    def torch_macs(fn):
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops() // 2

    x1, x2 = torch.randn(2, 8, 30), torch.randn(2, 8, 9, 11)
    cases = [
        (layers.Conv1D(12, 3, strides=2, groups=4), (30, 8),
         lambda: F.conv1d(x1, torch.randn(12, 2, 3), stride=2, groups=4)),
        (layers.Conv1DTranspose(5, 3, strides=2, dilation_rate=1), (30, 8),
         lambda: F.conv_transpose1d(x1, torch.randn(8, 5, 3), stride=2)),
        (layers.DepthwiseConv1D(4, depth_multiplier=3, dilation_rate=2), (30, 8),
         lambda: F.conv1d(x1, torch.randn(24, 1, 4), dilation=2, groups=8)),
        (layers.SeparableConv1D(6, 3, depth_multiplier=2), (30, 8),
         lambda: F.conv1d(F.conv1d(x1, torch.randn(16, 1, 3), groups=8),
                          torch.randn(6, 16, 1))),
        (layers.Conv2D(6, (3, 2), groups=2), (9, 11, 8),
         lambda: F.conv2d(x2, torch.randn(6, 4, 3, 2), groups=2)),
        (layers.Conv2DTranspose(5, 3, strides=2), (9, 11, 8),
         lambda: F.conv_transpose2d(x2, torch.randn(8, 5, 3, 3), stride=2)),
        (layers.DepthwiseConv2D(3, depth_multiplier=2), (9, 11, 8),
         lambda: F.conv2d(x2, torch.randn(16, 1, 3, 3), groups=8)),
        (layers.SeparableConv2D(6, 3), (9, 11, 8),
         lambda: F.conv2d(F.conv2d(x2, torch.randn(8, 1, 3, 3), groups=8),
                          torch.randn(6, 8, 1, 1))),
    ]
    for layer, in_shape, reference in cases:
        Sequential([layers.Input(in_shape), layer])
        assert layer_cost(layer, batch_size=2)["macs"] == torch_macs(reference), layer
