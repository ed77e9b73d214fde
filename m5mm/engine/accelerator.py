"""Creating the ``accelerate.Accelerator`` for CPUs, GPUs, DDP and DeepSpeed alike."""
from __future__ import annotations

import os
from typing import List, Optional

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs, ProjectConfiguration

from m5mm.engine.trackers import TRACKER_DIR

PRECISIONS = ('no', 'fp16', 'bf16')
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


def resolve_precision(precision: Optional[str]) -> str:
    """``'auto'``/None -> the launcher's ``--mixed_precision`` if any, else ``'bf16'``."""
    if precision in (None, 'auto'):
        precision = os.environ.get('ACCELERATE_MIXED_PRECISION', 'bf16')
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
