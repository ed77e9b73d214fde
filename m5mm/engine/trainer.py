"""The training loop: build from config, ``accelerator.prepare``, loop, hooks, checkpoints."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from accelerate.utils import set_seed
from mmengine.config import Config
from torch import Tensor

from m5mm.checkpoint.manager import CONFIG_JSON, CheckpointManager, recover_interrupted_saves, resume_candidates
from m5mm.checkpoint.parts import TrainingParts
from m5mm.checkpoint.run_config import config_json
from m5mm.checkpoint.state import TrainState
from m5mm.checkpoint.weights import load_model_weights
from m5mm.checkpoint.work_dir import lock_work_dir
from m5mm.datasets.loaders import (batches_per_process, build_dataset, build_train_loader, describe_empty_split,
                                   epoch_batches, loader_is_prepared)
from m5mm.engine.builder import build_hooks, build_model, import_config_modules, keyed_hooks
from m5mm.engine.contrastive_accumulation import build_contrastive_accumulator
from m5mm.engine.messages import MessageRecord
from m5mm.engine.optimizers import build_optimizer, build_scheduler
from m5mm.engine.resume import check_fresh_start, extra_state, resume_from
from m5mm.engine.trackers import finish_trackers, start_trackers, tracker_names
from m5mm.utils.accelerator import build_accelerator
from m5mm.utils.config import check_config
from m5mm.utils.distributed import unwrap_model
from m5mm.utils.files import write_json
from m5mm.utils.logging import close_log_file, get_logger, log_exception_to_file
from m5mm.version import __version__


class Trainer:
    """Trains ``cfg.model`` on ``cfg.train_dataloader`` with Accelerate (DDP / DeepSpeed / AMP).

    The work dir is locked from construction to the end of :meth:`train` (a second run there fails
    at once); call :meth:`close` when a trainer is dropped without training.

    Args:
        cfg: the resolved config.
        work_dir: receives the config, ``metrics.jsonl``, logs and ``checkpoints/``.
        resume: None, ``'auto'`` (latest restorable checkpoint in ``work_dir``) or a checkpoint directory.
        cfg_options: the ``--cfg-options`` of this launch, recorded with a resume.
        allow_config_change: resume even when the config changes the model or the training data.
    """

    def __init__(self, cfg: Config, *, work_dir: str, resume: Optional[str] = None,
                 cfg_options: Optional[dict] = None, allow_config_change: bool = False) -> None:
        check_config(cfg)
        self.cfg = cfg
        self.work_dir = Path(work_dir)
        self.max_epochs = cfg.get('train_cfg', {}).get('max_epochs', 1)
        self.clip_grad_norm = cfg.optim.get('clip_grad_norm')
        self.accelerator = build_accelerator(precision=cfg.get('precision', 'auto'),
                                             gradient_accumulation_steps=cfg.optim.get('accumulation_steps', 1),
                                             project_dir=str(self.work_dir),
                                             log_with=tracker_names(cfg.get('log_with')))
        self.is_main = self.accelerator.is_main_process
        self.micro_batches = build_contrastive_accumulator(cfg.optim, self.accelerator)
        if self.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        self._lock = lock_work_dir(self.accelerator, self.work_dir)
        self._holds_work_dir = True
        try:
            self._setup(resume, cfg_options, allow_config_change)
        except BaseException as exc:
            self.log_failure(exc)
            self.close()
            raise

    def _setup(self, resume: Optional[str], cfg_options: Optional[dict], allow_config_change: bool) -> None:
        cfg = self.cfg
        check_fresh_start(self.work_dir, resume)   # (before the log: another run's train.log stays as it is)
        self.logger = get_logger(self.work_dir / 'train.log', is_main=self.is_main)
        if self.is_main:
            recover_interrupted_saves(str(self.work_dir))
        self.accelerator.wait_for_everyone()
        candidates = resume_candidates(str(self.work_dir), resume)
        import_config_modules(cfg)
        set_seed(cfg.get('seed', 0), deterministic=cfg.get('deterministic', False))
        with self.accelerator.main_process_first():
            self.train_dataset = build_dataset(cfg.train_dataloader.dataset)
        if len(self.train_dataset) == 0:
            raise ValueError(describe_empty_split(self.train_dataset, 'train'))
        loader = build_train_loader(cfg.train_dataloader, dataset=self.train_dataset, accelerator=self.accelerator,
                                    seed=cfg.get('seed', 0))
        model = build_model(cfg.model, self.train_dataset.meta)
        if cfg.get('load_from') and not candidates:
            load_model_weights(model, cfg.load_from)
            self.logger.info('Initialised the model from %s', cfg.load_from)
        optimizer = build_optimizer(model, cfg.optim)
        batches = batches_per_process(loader, self.accelerator.num_processes)
        self.steps_per_epoch = -(-batches // self.accelerator.gradient_accumulation_steps)
        self.total_steps = self.max_epochs * self.steps_per_epoch
        # Stepped by the loop once per optimizer step, whatever the launch (accelerate would step a
        # prepared scheduler once per process, DeepSpeed once per step): same schedule everywhere.
        self.scheduler = build_scheduler(optimizer, cfg.get('scheduler'), total_steps=self.total_steps)
        if loader_is_prepared(loader):  # a stream reads its own rank's share: accelerate must not shard it again
            (self.model, self.optimizer), self.train_loader = self.accelerator.prepare(model, optimizer), loader
        else:
            self.model, self.optimizer, self.train_loader = self.accelerator.prepare(model, optimizer, loader)
        self.state = TrainState()
        self.checkpoints = CheckpointManager(self.accelerator, str(self.work_dir), parts=TrainingParts(
            accelerator=self.accelerator, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler))
        self.hooks = build_hooks(cfg)
        self.hooks_by_key = keyed_hooks(self.hooks)
        self.messages = MessageRecord()
        resumed = resume_from(self, candidates, cfg_options=cfg_options, allow_config_change=allow_config_change)
        if self.is_main and (not resumed or not (self.work_dir / 'config.py').is_file()):
            cfg.dump(str(self.work_dir / 'config.py'))   # a resumed run keeps the original
            write_json(self.work_dir / CONFIG_JSON, config_json(cfg))   # what loaders read (never config.py)
        self.logger.info('Model: %.2f M trainable parameters; %d processes (%s), precision %s; '
                         '%d epochs x %d steps', self.num_parameters() / 1e6, self.accelerator.num_processes,
                         self.accelerator.distributed_type, self.accelerator.mixed_precision,
                         self.max_epochs, self.steps_per_epoch)

    # ------------------------------------------------------------------ loop
    def train(self, max_steps: Optional[int] = None) -> TrainState:
        """Train to the end (or until ``max_steps`` optimizer steps, then checkpoint and return).

        A run already at its end (or at ``max_steps``) does nothing and says so.
        """
        self._stop_at = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        if self.state.step >= self._stop_at:
            done = self.state.step >= self.total_steps
            self.logger.warning('Nothing to train in %s: %s at step %d. Its files are kept as they are%s.',
                                self.work_dir, 'the run already finished' if done else 'already',
                                self.state.step, '; evaluate it again with tools/test.py' if done else
                                f' (--max-steps {max_steps})')
            self.close()
            return self.state
        if self._lock is None and self.is_main:
            self._lock = lock_work_dir(self.accelerator, self.work_dir)
        self._holds_work_dir = True
        try:
            start_trackers(self.accelerator, tracker_cfg=self.cfg.get('tracker_cfg'), config=config_json(self.cfg),
                           resumed_step=self.state.step)
            self._call('before_run')
            while self.state.epoch < self.max_epochs and self.state.step < self._stop_at:
                self._train_epoch()
                if self.state.batch_in_epoch >= len(self.train_loader):
                    self._call('after_train_epoch')
                    self.state.epoch += 1
                    self.state.batch_in_epoch = 0
            self._call('after_run')
        finally:
            finish_trackers(self.accelerator)
            self._release_lock()
        return self.state

    def _train_epoch(self) -> None:
        self.train_loader.set_epoch(self.state.epoch)
        self._call('before_train_epoch')
        loader = epoch_batches(self.train_loader, self.accelerator, self.state.batch_in_epoch)
        self.model.train()
        samples = 0
        for batch in loader:
            outputs = self._train_step(batch)
            samples += len(batch['meta']['ids'])
            self.state.batch_in_epoch += 1
            if self.accelerator.sync_gradients:
                self.state.step += 1
                self._publish_step(outputs, samples)
                samples = 0
                self._call('after_train_step', batch, outputs)
                if self.state.step >= self._stop_at:
                    return

    def _train_step(self, batch: dict) -> dict:
        with self.accelerator.accumulate(self.model):
            outputs = self._forward_backward(batch)
            if self.clip_grad_norm and self.accelerator.sync_gradients:
                self.accelerator.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
            if self.accelerator.sync_gradients and not self.accelerator.optimizer_step_was_skipped:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.state.samples += len(batch['meta']['ids']) * self.accelerator.num_processes
        return outputs

    def _publish_step(self, outputs: dict, samples: int) -> None:
        """Publish the step's scalars to :attr:`messages` (see :mod:`m5mm.engine.messages`)."""
        scalars = {f'train/{k}': v for k, v in outputs.items() if isinstance(v, Tensor) and v.numel() == 1}
        scalars.update({'train/lr': self.current_lr(), 'train/samples': samples})
        self.messages.update_scalars(scalars, step=self.state.step)

    def _forward_backward(self, batch: dict) -> dict:
        if self.micro_batches is not None:   # optim.contrastive_accumulation: the whole batch's loss, in parts
            return self.micro_batches.forward_backward(self.model, batch)
        outputs = self.model(batch)
        self.accelerator.backward(sum(value for key, value in outputs.items() if key.startswith('loss')))
        return outputs

    # --------------------------------------------------------------- helpers
    @property
    def is_last_step(self) -> bool:
        return self.state.step >= getattr(self, '_stop_at', self.total_steps)

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]['lr'])

    def num_parameters(self) -> int:
        model = unwrap_model(self.model)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def save_checkpoint(self) -> Path:
        """Checkpoint the run now (every process calls it); see :mod:`m5mm.checkpoint.parts`."""
        self.state.extra = extra_state(self)
        meta = dict(epoch=self.state.epoch, total_steps=self.total_steps, processes=self.accelerator.num_processes,
                    distributed_type=str(self.accelerator.distributed_type), m5mm_version=__version__)
        path = self.checkpoints.save(self.state.step, trainer_state=self.state.state_dict(), meta=meta,
                                     config_text=self.cfg.pretty_text, config_json=config_json(self.cfg))
        self.logger.info('Saved checkpoint %s', path)
        return path

    def _release_lock(self) -> None:
        if getattr(self, '_lock', None) is not None:
            self._lock.release()
        self._lock, self._holds_work_dir = None, False

    def close(self) -> None:
        """Release the work dir and stop writing to its ``train.log`` (safe to call twice)."""
        self._release_lock()
        if self.is_main:
            close_log_file(self.work_dir / 'train.log')

    def log_failure(self, exc: BaseException) -> None:
        """Write the exception that stops the run, with its traceback, to ``train.log``."""
        log_exception_to_file(self.work_dir / 'train.log', f'The run stopped: {type(exc).__name__}: {exc}', exc)

    def _call(self, point: str, *args) -> None:
        for hook in self.hooks:
            getattr(hook, point)(self, *args)
