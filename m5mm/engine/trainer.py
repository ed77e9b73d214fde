"""The training loop: build from config, ``accelerator.prepare``, loop, hooks, checkpoints."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from accelerate.utils import set_seed
from mmengine.config import Config

from m5mm.engine.accelerator import build_accelerator
from m5mm.engine.builder import build_hooks, build_model, import_config_modules
from m5mm.engine.checkpoint import CheckpointManager, check_resumable, resolve_resume
from m5mm.engine.data import (batches_per_process, build_dataset, build_train_loader, data_state, epoch_batches,
                              loader_is_prepared, restore_data_state)
from m5mm.engine.optimizers import build_optimizer, build_scheduler
from m5mm.engine.state import TrainState
from m5mm.engine.weights import load_model_weights
from m5mm.utils.logging import get_logger


class Trainer:
    """Trains ``cfg.model`` on ``cfg.train_dataloader`` with Accelerate (DDP / DeepSpeed / AMP).

    Args:
        cfg: the resolved config.
        work_dir: receives the config, ``metrics.jsonl``, logs and ``checkpoints/``.
        resume: None, ``'auto'`` (latest checkpoint in ``work_dir``) or a checkpoint directory.
    """

    def __init__(self, cfg: Config, *, work_dir: str, resume: Optional[str] = None) -> None:
        self.cfg = cfg
        self.work_dir = Path(work_dir)
        train_cfg = cfg.get('train_cfg', {})
        self.max_epochs = train_cfg.get('max_epochs', 1)
        optim_cfg = cfg.optim
        self.clip_grad_norm = optim_cfg.get('clip_grad_norm')
        self.accelerator = build_accelerator(precision=cfg.get('precision', 'auto'),
                                             gradient_accumulation_steps=optim_cfg.get('accumulation_steps', 1),
                                             project_dir=str(self.work_dir))
        self.is_main = self.accelerator.is_main_process
        if self.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            cfg.dump(str(self.work_dir / 'config.py'))
        self.logger = get_logger(self.work_dir / 'train.log', is_main=self.is_main)
        import_config_modules(cfg)
        set_seed(cfg.get('seed', 0), deterministic=cfg.get('deterministic', False))

        with self.accelerator.main_process_first():
            self.train_dataset = build_dataset(cfg.train_dataloader.dataset)
        loader = build_train_loader(cfg.train_dataloader, dataset=self.train_dataset, accelerator=self.accelerator,
                                    seed=cfg.get('seed', 0))
        model = build_model(cfg.model, self.train_dataset.meta)
        if cfg.get('load_from') and not resume:
            load_model_weights(model, cfg.load_from)
            self.logger.info('Initialised the model from %s', cfg.load_from)
        optimizer = build_optimizer(model, optim_cfg)
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
        self.accelerator.register_for_checkpointing(self.state, self.scheduler)
        self.checkpoints = CheckpointManager(self.accelerator, str(self.work_dir))
        self.hooks = build_hooks(cfg.get('hooks'))
        self.last_batch_size = 0
        self._resume(resume)
        self.logger.info('Model: %.2f M trainable parameters; %d processes (%s), precision %s; '
                         '%d epochs x %d steps', self.num_parameters() / 1e6, self.accelerator.num_processes,
                         self.accelerator.distributed_type, self.accelerator.mixed_precision,
                         self.max_epochs, self.steps_per_epoch)

    # ------------------------------------------------------------------ loop
    def train(self, max_steps: Optional[int] = None) -> TrainState:
        """Train to the end (or until ``max_steps`` optimizer steps, then checkpoint and return)."""
        self._stop_at = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        self._call('before_run')
        while self.state.epoch < self.max_epochs and self.state.step < self._stop_at:
            self._train_epoch()
            if self.state.batch_in_epoch >= len(self.train_loader):
                self._call('after_train_epoch')
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
        self._call('after_run')
        return self.state

    def _train_epoch(self) -> None:
        self.train_loader.set_epoch(self.state.epoch)
        self._call('before_train_epoch')
        loader = epoch_batches(self.train_loader, self.accelerator, self.state.batch_in_epoch)
        self.model.train()
        for batch in loader:
            outputs = self._train_step(batch)
            self.state.batch_in_epoch += 1
            if self.accelerator.sync_gradients:
                self.state.step += 1
                self._call('after_train_step', batch, outputs)
                if self.state.step >= self._stop_at:
                    return

    def _train_step(self, batch: dict) -> dict:
        with self.accelerator.accumulate(self.model):
            outputs = self.model(batch)
            loss = sum(value for key, value in outputs.items() if key.startswith('loss'))
            self.accelerator.backward(loss)
            if self.clip_grad_norm and self.accelerator.sync_gradients:
                self.accelerator.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
            if self.accelerator.sync_gradients and not self.accelerator.optimizer_step_was_skipped:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.last_batch_size = len(batch['meta']['ids'])
        self.state.samples += self.last_batch_size * self.accelerator.num_processes
        return outputs

    # --------------------------------------------------------------- helpers
    @property
    def is_last_step(self) -> bool:
        return self.state.step >= getattr(self, '_stop_at', self.total_steps)

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]['lr'])

    def num_parameters(self) -> int:
        model = self.accelerator.unwrap_model(self.model)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def save_checkpoint(self) -> Path:
        meta = dict(self.state.state_dict(), total_steps=self.total_steps, data=data_state(self.train_loader),
                    processes=self.accelerator.num_processes,
                    distributed_type=str(self.accelerator.distributed_type))
        path = self.checkpoints.save(self.state.step, meta, self.cfg.pretty_text)
        self.logger.info('Saved checkpoint %s', path)
        return path

    def _resume(self, resume: Optional[str]) -> None:
        path = resolve_resume(str(self.work_dir), resume)
        if path is None:
            if resume == 'auto':
                self.logger.info('No checkpoint in %s: starting from scratch', self.work_dir)
            return
        check_resumable(path, self.accelerator)
        restore_data_state(self.train_loader, self.checkpoints.load(path).get('data'))
        if self.state.batch_in_epoch >= len(self.train_loader):  # saved at an epoch end
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
        self.logger.info('Resumed from %s at epoch %d, step %d', path, self.state.epoch, self.state.step)

    def _call(self, point: str, *args) -> None:
        for hook in self.hooks:
            getattr(hook, point)(self, *args)
