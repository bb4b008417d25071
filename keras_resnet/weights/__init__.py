"""Published weights: their records (origin, hash, licence, eval transform, claimed accuracy), the download and
loading of weight files, PyTorch checkpoints read as data (no pickled code runs) and their parameter layouts, and
Hugging Face Hub handles. Backend-agnostic: no TensorFlow.
"""
