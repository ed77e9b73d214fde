"""tools/train.py: a config error is one line that says what to do, not a traceback."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_a_hook_in_cfg_options_is_read_as_data_and_an_unknown_one_is_a_one_line_error(tmp_path):
    """``dict(...)`` on the command line is parsed, never evaluated: it reaches the hook registry, which names the
    unknown type in one line (mmengine's DictAction recursed without end on it)."""
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'),
                             str(REPO / 'configs' / 'scale_5mod_tiny.py'), '--work-dir', str(tmp_path / 'run'),
                             '--cfg-options', 'custom_hooks=[dict(type=NoSuchHook,fraction=0.5)]'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    error, hint = result.stderr.strip().splitlines()[-2:]
    assert hint == '(add --debug for the traceback)'
    assert error.startswith("train.py: error: 'NoSuchHook' is not registered in the m5mm 'hook' registry.")
