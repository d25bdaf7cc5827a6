"""Pictures of what a CNN does: animations, explanations, feature maps, training curves.

matplotlib and Pillow are optional (``pip install 'npconv[viz]'``): each function imports what it
needs when called and raises an ImportError naming the missing package otherwise.
Importing ``npconv.viz`` itself needs neither.
"""

from .animation import animate_convolution, animate_pooling, conv_animation_frames
from .explain import explain_convolution

__all__ = ["animate_convolution", "animate_pooling", "conv_animation_frames",
           "explain_convolution"]
