"""Residual learning for speech, built on the image networks' blocks through ``LayerConfig.conv_input``.

``WRBN`` (``wrbn.py``): the Wide Residual BLSTM Network of Heymann, Drude and Haeb-Umbach (2016); its layers
(``layers.py``) check the feature frames and mask padded ones. Features: ``keras_resnet.data.audio``.
"""

from keras_resnet.speech.layers import FrameMask, SpectrogramInput, ZeroMaskedFrames
from keras_resnet.speech.wrbn import WRBN, Conv, ResBlock

__all__ = ["Conv", "FrameMask", "ResBlock", "SpectrogramInput", "WRBN", "ZeroMaskedFrames"]
