"""Pictures of what a CNN does: animations, explanations, feature maps, training curves.

matplotlib and Pillow are optional (``pip install 'npconv[viz]'``): each function imports what it
needs when called and raises an ImportError naming the missing package otherwise.
Importing ``npconv.viz`` itself needs neither.
"""

from .animation import animate_convolution, animate_pooling, conv_animation_frames
from .explain import explain_convolution
from .feature_maps import feature_maps
from .model_plot import model_to_dot, plot_model
from .plots import (
    confusion_matrix,
    plot_activations,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_predictions,
)

__all__ = [
    "animate_convolution", "animate_pooling", "confusion_matrix", "conv_animation_frames",
    "explain_convolution", "feature_maps", "model_to_dot", "plot_activations",
    "plot_confusion_matrix", "plot_feature_maps", "plot_filters", "plot_history", "plot_model",
    "plot_predictions",
]
