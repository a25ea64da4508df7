"""Datasets: a registry of sources, decoded once into uint8 tensors and cached on disk."""

from raycnn.data.dataset import Dataset, DecodedData
from raycnn.data.loader import cache_folder, describe_dataset, load_dataset
from raycnn.data.sources import list_datasets, register_dataset

__all__ = ["Dataset", "DecodedData", "cache_folder", "describe_dataset", "list_datasets", "load_dataset", "register_dataset"]
