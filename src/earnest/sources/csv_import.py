"""Placeholder: being written."""

from earnest.sources.base import Reader

READERS: list[Reader] = []
