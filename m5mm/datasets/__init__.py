"""Product datasets: manifest and M5Product readers, modality specs, transforms, collate."""
from . import modalities, transforms
from .base_dataset import BaseProductDataset
from .collation import collate
from .errors import ManifestError, MediaError
from .generation_lock import generation_lock
from .m5product_dataset import M5ProductDataset
from .manifest_dataset import ManifestDataset
from .media_report import MediaReport
from .modalities import ModalitySpec
from .paths import resolve_media_path
from .shards import ShardedDataset, build_shards
from .tokenizer import TextTokenizer, load_tokenizer, train_tokenizer
from .worker import worker_init_fn

__all__ = ['BaseProductDataset', 'M5ProductDataset', 'ManifestDataset', 'ManifestError', 'MediaError',
           'MediaReport', 'ModalitySpec', 'ShardedDataset', 'TextTokenizer', 'build_shards', 'collate',
           'generation_lock', 'load_tokenizer', 'modalities', 'resolve_media_path', 'train_tokenizer', 'transforms',
           'worker_init_fn']
