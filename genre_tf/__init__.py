"""genre-tf: music genre classification with TensorFlow/Keras."""
import os

# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) buries our own messages.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.2.0"
