"""The parts of a training checkpoint: writing each one and reading it back without unpickling objects.

Format 2 (``meta.json`` ``"format": 2``), one directory per checkpoint::

    meta.json                    step, epoch, processes, distributed type, and every file with its size and
                                 sha256 (see :mod:`m5mm.checkpoint.integrity`)
    config.py, config.json       the resolved config (text for people; JSON for resume checks and loaders, data only)
    trainer_state_<rank>.json    TrainState of each process: counters + ``extra`` (hook states, message record,
                                 data state)
    rng_<rank>.safetensors/.json random generator states of each process (torch as tensors, Python/NumPy as JSON)
    model.safetensors            model weights, tied weights stored once           (not under DeepSpeed)
    optimizer.pt                 optimizer state, a weights-only torch file        (not under DeepSpeed)
                                 (under FSDP both hold the full state gathered from the shards, the
                                 optimizer's keyed by parameter name; see :mod:`m5mm.checkpoint.fsdp_state`)
    scheduler.pt                 learning-rate scheduler state, weights-only torch file
    scaler.json                  fp16 gradient scaler state                        (fp16 only)
    latest, pytorch_model/       DeepSpeed's own files (model + partitioned optimizer) (DeepSpeed only),
                                 read by DeepSpeed with every ``torch.load`` forced weights-only

Reading is split from applying: every part is read and checked first, so a damaged checkpoint
changes nothing in the running model (see :class:`m5mm.checkpoint.manager.CheckpointManager`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from m5mm.checkpoint.fsdp_state import gather_full_state, load_full_state
from m5mm.checkpoint.integrity import META_FILE, file_owner, read_meta, verify_file
from m5mm.checkpoint.rng_state import apply_rng_state, read_rng_state, rng_files, save_rng_state
from m5mm.checkpoint.safe_load import CheckpointError, deepspeed_weights_only, load_tensor_file, read_json
from m5mm.checkpoint.state import COUNTERS
from m5mm.checkpoint.weights import MODEL_FILE, load_safetensors, safetensors_bytes
from m5mm.utils.distributed import unwrap_model
from m5mm.utils.files import write_bytes_hashed, write_hashed, write_json

FORMAT = 2
OPTIMIZER_FILE = 'optimizer.pt'
SCHEDULER_FILE = 'scheduler.pt'
SCALER_FILE = 'scaler.json'
DEEPSPEED_TAG = 'pytorch_model'


def trainer_state_file(rank: int) -> str:
    return f'trainer_state_{rank}.json'


@dataclass
class TrainingParts:
    """What a checkpoint saves: the prepared model, optimizer and scheduler of an Accelerator."""

    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any

    @property
    def deepspeed(self) -> bool:
        return str(self.accelerator.distributed_type).endswith('DEEPSPEED')

    @property
    def fsdp(self) -> bool:
        return str(self.accelerator.distributed_type).endswith('FSDP')

    @property
    def inner_optimizer(self) -> Any:
        """The torch optimizer inside Accelerate's wrapper."""
        return getattr(self.optimizer, 'optimizer', self.optimizer)

    @property
    def rank(self) -> int:
        return self.accelerator.process_index


def _torch_save(value: Any, path: Path) -> str:
    """``torch.save`` streamed through a hashing writer: the sha256 of the bytes as they are written."""
    return write_hashed(path, lambda handle: torch.save(value, handle))


def write_parts(folder: Path, parts: TrainingParts, trainer_state: Dict[str, Any]) -> Dict[Path, Optional[str]]:
    """Write this process's share of a checkpoint into ``folder`` (every process calls it).

    The large files are hashed while they are written, never read back: ``optimizer.pt`` and
    ``scheduler.pt`` by streaming ``torch.save`` through a hashing writer, ``model.safetensors``
    from the in-memory buffer that safetensors serializes (one extra copy of the weights in host
    memory while it is written). The small JSON and random-state files get None: they are hashed
    from the file when ``meta.json`` is written.

    Returns:
        ``{file: sha256 or None}`` of the files this process wrote (DeepSpeed's collective save excluded).
    """
    acc, written = parts.accelerator, {}
    if parts.deepspeed:
        # frozen pretrained weights stay out, as they do in the module's own state dict
        parts.model.save_checkpoint(str(folder), DEEPSPEED_TAG, exclude_frozen_parameters=True)
    elif parts.fsdp:   # every process takes part in gathering the shards
        model_state, optimizer_state = gather_full_state(unwrap_model(parts.model), parts.inner_optimizer)
    else:
        model_state, optimizer_state = unwrap_model(parts.model).state_dict(), parts.optimizer.state_dict()
    if acc.is_main_process:
        if not parts.deepspeed:
            written[folder / MODEL_FILE] = write_bytes_hashed(folder / MODEL_FILE, safetensors_bytes(model_state))
            written[folder / OPTIMIZER_FILE] = _torch_save(optimizer_state, folder / OPTIMIZER_FILE)
        written[folder / SCHEDULER_FILE] = _torch_save(parts.scheduler.state_dict(), folder / SCHEDULER_FILE)
        if acc.scaler is not None:
            written[write_json(folder / SCALER_FILE, acc.scaler.state_dict())] = None
    state_file = write_json(folder / trainer_state_file(parts.rank), dict(trainer_state, accelerator_step=acc.step))
    written.update(dict.fromkeys([state_file, *save_rng_state(folder, parts.rank)]))
    return written


def check_files(folder: Path, meta: Dict[str, Any], rank: int) -> None:
    """Every file ``meta.json`` lists is there with its size; this process's files are listed; the files this
    process reads (shared ones and its own) have their recorded sha256 (when one is recorded)."""
    files = meta.get('files')
    if meta.get('format') != FORMAT or not isinstance(files, dict):
        raise CheckpointError(
            f'{folder / META_FILE}: a checkpoint of format {meta.get("format", 1)} (this m5mm reads format {FORMAT}). '
            f'Checkpoints before format 2 kept training state in pickles, which m5mm no longer loads because '
            f'unpickling can run code. Start a new run from its weights (read weights-only): '
            f'--cfg-options load_from={folder}')
    for name in (trainer_state_file(rank), *rng_files(rank)):
        if name not in files:
            raise CheckpointError(f'{folder / name}: missing; the checkpoint was written by {meta.get("processes")} '
                                  f'process(es), so process {rank} has no state in it')
    for name in files:
        verify_file(folder, meta, name, digest=False)
    for name in files:   # (another process checks its own files' digests)
        if file_owner(name) in (None, rank):
            verify_file(folder, meta, name)


def _read_trainer_state(path: Path) -> Dict[str, Any]:
    state = read_json(path)
    missing = [key for key in COUNTERS if not isinstance(state, dict) or not isinstance(state.get(key), int)]
    if missing or not isinstance(state.get('extra', {}), dict):
        raise CheckpointError(f'{path}: not a trainer state (missing or invalid {missing or ["extra"]})')
    return state


def read_parts(folder: Path, parts: TrainingParts) -> Dict[str, Any]:
    """Read and check this process's share of checkpoint ``folder`` (nothing is applied yet)."""
    meta = read_meta(folder)
    check_files(folder, meta, parts.rank)
    loaded: Dict[str, Any] = dict(meta=meta, trainer_state=_read_trainer_state(folder / trainer_state_file(parts.rank)),
                                  rng=read_rng_state(folder, parts.rank),
                                  scheduler=load_tensor_file(folder / SCHEDULER_FILE))
    if bool(meta.get('deepspeed')) != parts.deepspeed:
        raise CheckpointError(f'{folder}: written {"with" if meta.get("deepspeed") else "without"} DeepSpeed; '
                              f'resume it the same way, or start a new run from its weights with load_from')
    if not parts.deepspeed:
        loaded['model'] = load_safetensors(folder / MODEL_FILE)
        loaded['optimizer'] = load_tensor_file(folder / OPTIMIZER_FILE)
    if parts.accelerator.scaler is not None:
        loaded['scaler'] = read_json(folder / SCALER_FILE)
    return loaded


def _apply(path: Path, what: str, fn, value) -> None:
    try:
        fn(value)
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as exc:
        raise CheckpointError(f'{path}: the {what} state does not fit this run ({str(exc)[:300]})') from None


def apply_parts(folder: Path, parts: TrainingParts, loaded: Dict[str, Any]) -> Dict[str, Any]:
    """Restore what :func:`read_parts` read into the running objects; returns this process's trainer state."""
    acc = parts.accelerator
    if parts.deepspeed:
        try:
            with deepspeed_weights_only():
                load_path, _ = parts.model.load_checkpoint(str(folder), DEEPSPEED_TAG)
        except (KeyError, ValueError, RuntimeError, FileNotFoundError) as exc:
            raise CheckpointError(f'{folder / DEEPSPEED_TAG}: DeepSpeed could not load it ({str(exc)[:300]})') from None
        if load_path is None:
            raise CheckpointError(f'{folder / DEEPSPEED_TAG}: DeepSpeed found no checkpoint to load')
    elif parts.fsdp:
        _apply(folder / MODEL_FILE, 'model and optimizer', lambda s: load_full_state(
            unwrap_model(parts.model), parts.inner_optimizer, *s), (loaded['model'], loaded['optimizer']))
    else:
        _apply(folder / MODEL_FILE, 'model', lambda s: unwrap_model(parts.model).load_state_dict(s, strict=True),
               loaded['model'])
        _apply(folder / OPTIMIZER_FILE, 'optimizer', parts.optimizer.load_state_dict, loaded['optimizer'])
    _apply(folder / SCHEDULER_FILE, 'scheduler', parts.scheduler.load_state_dict, loaded['scheduler'])
    if 'scaler' in loaded:
        _apply(folder / SCALER_FILE, 'gradient scaler', acc.scaler.load_state_dict, loaded['scaler'])
    apply_rng_state(loaded['rng'], str(folder / rng_files(parts.rank)[0]))
    state = loaded['trainer_state']
    acc.step = int(state.get('accelerator_step', 0))
    return state
