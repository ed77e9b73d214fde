"""DeepSpeed's "Setting accelerator to CPU" notice is gone on a CPU host; its other warnings stay."""
from __future__ import annotations

import subprocess
import sys

import pytest

from m5mm.third_party_logs import has_nvidia_device
from tests.conftest import REPO

SCRIPT = '''
import m5mm
import accelerate                       # imports DeepSpeed when installed, which logs the notice
from deepspeed.utils import logger
logger.warning('a real DeepSpeed warning')
'''


@pytest.mark.skipif(has_nvidia_device(), reason='the notice stays on a host with an NVIDIA device')
def test_importing_accelerate_through_m5mm_logs_no_cpu_notice():
    pytest.importorskip('deepspeed')
    result = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert 'Setting accelerator to CPU' not in output
    assert 'a real DeepSpeed warning' in output
