"""m5mm's tests import the tiny batch from here; it lives in the installed :mod:`m5mm.testing`."""
from m5mm.testing.batch_factory import (BUILTIN, DEFAULT_ABSENT, FIRST_WORD_ID, SIZES, TOKENS, make_batch,  # noqa: F401
                                        tiny_data_meta, tiny_encoder_cfgs)
