"""Vector quantization: RVQ / IRVQ / dictionary annealing, ADC search with A-Tree / E-Tree,
an index file format that the C runtime (runtime_c/src/sdk_vq.c) reads in place."""
from .kmeans import kmeans
from .quantizer import METHODS, Quantizer, beam_encode, train

__all__ = ["METHODS", "Quantizer", "beam_encode", "kmeans", "train"]
from .index import Index, from_bytes, load

__all__ += ["Index", "from_bytes", "load"]
