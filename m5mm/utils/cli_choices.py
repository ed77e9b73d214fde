"""The choices and defaults the tools' ``--help`` shows, importable without torch.

The tools build their parsers from these, so ``python tools/X.py --help`` answers without importing the
library (seconds of torch import on a busy machine). Each value mirrors the library constant named in its
comment; ``tests/test_tools/test_cli.py`` checks that they stay equal.
"""
from __future__ import annotations

FEATURE_KINDS = ('joint', 'fused', 'pooled')                  # m5mm.evaluation.features.KINDS
CLASSIFICATION_SOURCES = ('auto', 'logits', 'probe')          # m5mm.evaluation.evaluate.CLASSIFICATION_SOURCES
DEFAULT_TASKS = ('retrieval', 'classification', 'clustering')  # m5mm.evaluation.evaluate.ALL_TASKS
TASK_NAMES = ('retrieval', 'classification', 'clustering', 'zero_shot', 'text_retrieval', 'presence',
              'partial_query')                                 # m5mm.evaluation.tasks.named_tasks() keys
CACHE_DTYPES = ('float16', 'float32')                          # m5mm.evaluation.feature_cache.DTYPES
ROBUSTNESS = ('default', 'all', 'none')                        # m5mm.api.export.ROBUSTNESS
CHARS_PER_TOKEN = 64                                           # m5mm.datasets.tokenizer.CHARS_PER_TOKEN
TABLE_PAIRS_PER_TOKEN = 4                                      # m5mm.serve.request_limits
DEFAULT_MAX_MEDIA_BYTES = 8 * 1024 * 1024                      # m5mm.serve.request_limits
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000                          # m5mm.serve.request_limits
DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS = 32, 5.0               # m5mm.serve.app
BENCHMARK_METHODS = ('scale', 'scale_uniform', 'clip', 'single_stream', 'uniter', 'co_attention',
                     'capture')                                # m5mm.experiments.paper_tables DEFAULT_METHODS
CONFIG_SIZES = ('small', 'tiny')                               # m5mm.experiments.paper_tables.SIZES keys
PACKAGED_MODELS = ('efficientnet_lite0', 'all_minilm_l6_v2')   # m5mm.models.pretrained.packaged.PACKAGED keys
TINY_FAMILIES = ('vit', 'clip', 'siglip', 'dinov2', 'convnext', 'timm_vit', 'videomae', 'wav2vec2', 'hubert',
                 'ast', 'whisper', 'bert', 'xlmr')             # m5mm.experiments.tiny_pretrained FAMILIES keys
