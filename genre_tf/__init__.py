"""genre-tf: music genre classification with TensorFlow/Keras."""

__version__ = "0.2.0"
