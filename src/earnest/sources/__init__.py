"""Readers for every supported exchange file, with format auto-detection, and the downloaders.

This is the only package that talks to the network (:mod:`earnest.sources.download`).
"""

from earnest.sources.base import ParsedFile, Reader
from earnest.sources.registry import detect, iter_input_files, known_formats, read_bytes, readers

__all__ = ["ParsedFile", "Reader", "detect", "iter_input_files", "known_formats", "read_bytes", "readers"]
