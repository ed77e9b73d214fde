"""Creating the ``accelerate.Accelerator`` for CPUs, GPUs, DDP and DeepSpeed alike."""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import List, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs, ProjectConfiguration

logger = logging.getLogger(__name__)

PRECISIONS = ('no', 'fp16', 'bf16')
#: Where Accelerate's trackers write, under the run's work dir.
TRACKER_DIR = 'trackers'
NO_NATIVE_BF16 = ("precision='bf16' on a device without native bf16 kernels (a CPU without AVX-512 or AMX): "
                  'bf16 matmuls are emulated there, an order of magnitude slower than fp32; '
                  "precision='auto' picks fp32 on such machines")
FSDP_NEEDS_GPU = ('FSDP was launched on a machine without a GPU: Accelerate turns a run into FSDP only from a '
                  'GPU-class multi-device run (its AcceleratorState never switches MULTI_CPU to FSDP), so the '
                  'processes would each train alone. On CPUs use configs/accelerate/DDP.yaml or ZERO*.yaml')


def launched_with_deepspeed() -> bool:
    """True when ``accelerate launch`` was asked for DeepSpeed."""
    return os.environ.get('ACCELERATE_USE_DEEPSPEED', 'false').lower() == 'true'


def launched_with_fsdp() -> bool:
    """True when ``accelerate launch`` was asked for FSDP (``configs/accelerate/FSDP.yaml``)."""
    return os.environ.get('ACCELERATE_USE_FSDP', 'false').lower() == 'true'


def launched_distributed() -> bool:
    """True under ``accelerate launch`` / torchrun with more than one process (or any rank set)."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1 or int(os.environ.get('LOCAL_RANK', '-1')) != -1


@lru_cache(maxsize=None)
def native_bf16() -> bool:
    """True where bf16 matmuls run on native kernels: a CUDA GPU with bf16, or a CPU for which oneDNN
    has bf16 kernels (AVX-512 or AMX). On an AVX2-only CPU bf16 is emulated: a 1024 x 1024 matmul
    ran at 0.45 GFLOP/s in bf16 against 28 GFLOP/s in fp32 (one thread, AMD EPYC without AVX-512)."""
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):   # a torch without the probe: assume native
        return True


def resolve_precision(precision: Optional[str]) -> str:
    """``'auto'``/None -> the launcher's ``--mixed_precision`` if any, else ``'bf16'`` where bf16 is
    native (:func:`native_bf16`) and ``'no'`` (fp32) where it is not. An explicit ``'bf16'`` on a
    machine without native bf16 is kept, with a warning."""
    if precision in (None, 'auto'):
        precision = os.environ.get('ACCELERATE_MIXED_PRECISION')
        if precision is None and not native_bf16():
            logger.info("precision='auto': fp32, since this machine has no native bf16 kernels")
        elif precision is None:
            precision = 'bf16'
    precision = precision or 'no'
    if precision == 'bf16' and not native_bf16():
        logger.warning(NO_NATIVE_BF16)
    if precision == 'fp32':
        precision = 'no'
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS} or "auto", got {precision!r}')
    if precision == 'fp16' and not torch.cuda.is_available():
        raise ValueError('fp16 mixed precision needs a GPU; use precision="bf16" on CPUs')
    return precision


def build_accelerator(*, precision: Optional[str] = 'auto', gradient_accumulation_steps: int = 1,
                      project_dir: Optional[str] = None, log_with: Optional[List[str]] = None) -> Accelerator:
    """An Accelerator that works unchanged on a laptop CPU, CPU nodes, GPUs and DeepSpeed.

    Without CUDA a launched (multi-process) run uses gloo; plain data parallelism on CPUs needs
    ``cpu=True`` (DeepSpeed and FSDP must not get it). Unused parameters never occur (every module
    runs on every batch), so DDP runs with ``find_unused_parameters=False``. ``log_with``: Accelerate's
    tracker names (checked by :func:`m5mm.engine.trackers.tracker_names`), writing under ``project_dir/trackers``.
    """
    cuda = torch.cuda.is_available()
    if launched_with_fsdp() and not cuda:
        raise RuntimeError(FSDP_NEEDS_GPU)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=False)]
    if not cuda and launched_distributed():
        handlers.append(InitProcessGroupKwargs(backend='gloo'))
    return Accelerator(cpu=not cuda and not launched_with_deepspeed() and not launched_with_fsdp(),
                       mixed_precision=resolve_precision(precision),
                       gradient_accumulation_steps=gradient_accumulation_steps, kwargs_handlers=handlers,
                       log_with=log_with, project_config=_project_config(project_dir))


def _project_config(project_dir: Optional[str]) -> Optional[ProjectConfiguration]:
    if project_dir is None:
        return None
    return ProjectConfiguration(project_dir=project_dir, logging_dir=os.path.join(project_dir, TRACKER_DIR))
