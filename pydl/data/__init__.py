"""Data pipelines: :class:`DataLoader` (a compiled iterator of shuffled, augmented, normalized batches
from data kept as uint8) and its transforms. See :mod:`pydl.data.transforms`."""
from ._loader import DataLoader, gather_transform
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, feature_stats

__all__ = ["Compose", "DataLoader", "Normalize", "RandomCrop", "RandomHorizontalFlip", "feature_stats",
           "gather_transform"]
