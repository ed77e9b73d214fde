"""WebDataset shards: building them from a map-style dataset, and streaming them for training."""
from .build import build_shards
from .layout import ShardIndexError, is_shard_folder, load_index
from .sharded_dataset import ShardedDataset

__all__ = ['ShardIndexError', 'ShardedDataset', 'build_shards', 'is_shard_folder', 'load_index']
