"""Which exceptions are the user's to fix (the tools print one line) and which are bugs (a traceback).

A user error is one of the named error types below (a config that cannot be used, a refused work dir, a
damaged checkpoint or model folder, a bad manifest or shard index, an unknown registry type ...), a
missing or existing path the user gave (``FileNotFoundError`` ...), or a ``ValueError`` / ``KeyError`` /
``TypeError`` / ``ImportError`` raised by a ``raise`` statement of m5mm's own code (its message is written
for the user). The same types raised inside torch, numpy ... or by Python itself (``d[key]``, ``int(text)``)
are bugs and keep their traceback.
"""
from __future__ import annotations

import dis
import os
import sys
from types import TracebackType
from typing import Optional

#: (module, class) of the m5mm errors that always mean "fix your input". Looked up only in modules already
#: imported (an error of a module never imported cannot have been raised), so this file imports nothing heavy.
USER_ERROR_TYPES = (
    ('m5mm.utils.config', 'ConfigError'),
    ('m5mm.utils.build', 'UnknownModuleError'),
    ('m5mm.utils.build', 'ConfigKeyError'),
    ('m5mm.utils.plugins', 'IncompatiblePluginError'),
    ('m5mm.utils.pretrained_source', 'PretrainedSourceError'),
    ('m5mm.checkpoint.safe_load', 'CheckpointError'),
    ('m5mm.checkpoint.work_dir', 'WorkDirInUseError'),
    ('m5mm.api.model_folder', 'ModelFolderError'),
    ('m5mm.datasets.errors', 'MediaError'),
    ('m5mm.datasets.errors', 'ManifestError'),
    ('m5mm.datasets.shards.layout', 'ShardIndexError'),
    ('m5mm.serve.catalogue_index', 'IndexMismatchError'),
    ('m5mm.evaluation.search.index_files', 'IndexFolderError'),
    ('m5mm.models.pretrained.weight_mapping', 'WeightMappingError'),
    ('m5mm.models.pretrained.loading', 'WrongModalityError'),
    ('m5mm.experiments.paper_tables.runner', 'BenchmarkMismatchError'),
)

#: A path the user named that is missing, already there or of the wrong kind.
PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)

#: Generic types that are user errors when m5mm's own code raises them on purpose.
RAISED_ON_PURPOSE = (ValueError, KeyError, TypeError, ImportError)

_OWN_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_OWN_DIRS = tuple(os.path.join(_OWN_ROOT, name) + os.sep for name in ('m5mm', 'tools', 'plugins'))


def _named_types() -> tuple:
    found = (getattr(sys.modules.get(module), name, None) for module, name in USER_ERROR_TYPES)
    return tuple(cls for cls in found if isinstance(cls, type))


def _innermost(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def raised_by_m5mm(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a ``raise`` statement in m5mm's own code (m5mm/, tools/, an m5mm plugin)."""
    tb = _innermost(exc.__traceback__)
    if tb is None:
        return False
    code = tb.tb_frame.f_code
    module = tb.tb_frame.f_globals.get('__name__', '')
    own = code.co_filename.startswith(_OWN_DIRS) or module == 'm5mm' or module.startswith(('m5mm.', 'm5mm_'))
    if not own:
        return False
    return any(ins.offset == tb.tb_lasti and ins.opname.startswith('RAISE') for ins in dis.get_instructions(code))


def is_user_error(exc: BaseException) -> bool:
    """True for an error the user fixes by changing the command, config or files (see the module doc)."""
    if isinstance(exc, PATH_ERRORS + _named_types()):
        return True
    return isinstance(exc, RAISED_ON_PURPOSE) and raised_by_m5mm(exc)


def user_message(exc: BaseException) -> str:
    """The message of ``exc`` without KeyError's quotes."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__
