"""Quiets one notice of a third-party library that says nothing on this host (stdlib only: runs on
``import m5mm``, before accelerate imports DeepSpeed)."""
from __future__ import annotations

import logging
import os

#: DeepSpeed's logger, and the notice it logs on every import (accelerate imports it) on a host without GPU.
DEEPSPEED_LOGGER = 'DeepSpeed'
CPU_NOTICE = 'Setting accelerator to CPU.'


def has_nvidia_device() -> bool:
    """Whether the host has an NVIDIA device node (``/dev/nvidia0`` ...), whatever torch makes of it."""
    try:
        names = os.listdir('/dev')
    except OSError:
        return False
    return any(name.startswith('nvidia') and name[len('nvidia'):].isdigit() for name in names)


class CpuNoticeFilter(logging.Filter):
    """Drops DeepSpeed's "Setting accelerator to CPU" notice; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(CPU_NOTICE)


def quiet_deepspeed_cpu_notice() -> None:
    """On a host without an NVIDIA device, drop DeepSpeed's "Setting accelerator to CPU" warning, logged on
    every import: CPU is the only accelerator there, so it tells nothing. On a host with a GPU the notice
    stays (there it means torch did not find the GPU), and DeepSpeed's other records always pass. The filter
    goes on the logger before DeepSpeed sets it up, and survives that set-up."""
    logger = logging.getLogger(DEEPSPEED_LOGGER)
    if has_nvidia_device() or any(isinstance(f, CpuNoticeFilter) for f in logger.filters):
        return
    logger.addFilter(CpuNoticeFilter())
