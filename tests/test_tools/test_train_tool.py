"""tools/train.py: a config error is one line that says what to do, not a traceback."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_python_in_cfg_options_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'),
                             str(REPO / 'configs' / 'scale_5mod_tiny.py'), '--work-dir', str(tmp_path / 'run'),
                             '--cfg-options', 'custom_hooks=[dict(type=EvaluationHook)]'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    error, hint = result.stderr.strip().splitlines()[-2:]
    assert hint == '(add --debug for the traceback)'
    assert error == (
        "train.py: error: --cfg-options custom_hooks: 'dict(type=EvaluationHook)' is Python, which --cfg-options "
        "does not "
        "evaluate (values are numbers, strings and [lists] of them); add hooks in a config file "
        "(custom_hooks = [dict(type=...)] below _base_ = [YOUR_CONFIG]), or change a setting of a default hook "
        "with default_hooks.NAME.KEY=VALUE")
    assert not (tmp_path / 'run').exists()
