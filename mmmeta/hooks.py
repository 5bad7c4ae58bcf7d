"""Training hooks that keep a run's work from being lost: crash-safe checkpoints and a guard
that stops a diverging run before it overwrites good weights.

Both are registered in mmengine's root ``HOOKS`` registry (so ``type='SafeCheckpointHook'``
works from the mmdet, mmseg and mmpretrain scopes) and in mmmeta's own
(``type='mmmeta.SafeCheckpointHook'``). Every config of this project uses them::

    default_hooks = dict(
        checkpoint=dict(type='SafeCheckpointHook', interval=1),
        divergence=dict(type='DivergenceGuardHook'))
"""
import contextlib
import math
import os
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS as MMENGINE_HOOKS

from .files import atomic_write_text, commit_file, stale_temp_files, temp_path_for
from .registry import HOOKS


class DivergenceError(RuntimeError):
    """Training produced non-finite numbers; the message names the iteration and the last
    good checkpoint."""


def last_good_checkpoint(runner) -> str:
    """The checkpoint a diverged run should go back to, as a phrase for a message."""
    path = runner.message_hub.get_info('last_ckpt', None)
    if path is None:
        marker = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(marker):
            with open(marker) as f:
                path = f.read().strip() or None
    return f'the last good checkpoint is {path}' if path else \
        'no checkpoint was saved before it'


def nonfinite_tensors(module: torch.nn.Module, limit: int = 3) -> List[str]:
    """Names of (up to ``limit``) floating-point parameters/buffers holding NaN or Inf."""
    bad = []
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad.append(name)
            if len(bad) >= limit:
                break
    return bad


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def _register(cls):
    MMENGINE_HOOKS.register_module(module=cls)
    HOOKS.register_module(module=cls)
    return cls


@_register
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) made crash-safe on local disks.

    * Each checkpoint is written to a temporary file in the same directory, flushed, fsynced
      and renamed into place (``os.replace``), so a kill at any moment leaves either the old
      set of files or the new one, never a partial ``iter_N.pth``.
    * ``last_checkpoint`` is updated (also atomically) only after the file is in place, and
      old checkpoints (``max_keep_ckpts``) are deleted only after that; mmengine deletes the
      oldest one *before* writing the new one.
    * A model whose weights hold NaN/Inf is never saved (:class:`DivergenceError` instead),
      so a diverged run cannot overwrite a good checkpoint.
    * Temporary files left by a killed run are removed when training starts.

    Remote backends (``backend_args``) fall back to mmengine's behaviour.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._is_local() and is_main_process():
            for tmp in stale_temp_files(self.out_dir):
                with contextlib.suppress(OSError):
                    os.remove(tmp)

    def _is_local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _check_finite(self, runner) -> None:
        bad = nonfinite_tensors(_unwrap(runner.model))
        if bad:
            raise DivergenceError(
                f'training diverged: the model weights hold NaN/Inf at iteration '
                f'{runner.iter + 1} (e.g. {", ".join(bad)}), so no checkpoint was written and '
                f'{last_good_checkpoint(runner)}; lower the learning rate or enable gradient '
                f'clipping (optim_wrapper.clip_grad) and resume from it.')

    @contextlib.contextmanager
    def _atomic_saves(self, runner):
        """Within the block, ``runner.save_checkpoint`` writes through a temporary file."""
        if getattr(runner.save_checkpoint, 'atomic', False):  # nested: already atomic
            yield
            return
        original = runner.save_checkpoint

        def save(out_dir, filename, *args, **kwargs):
            if not is_main_process():  # Runner.save_checkpoint is master_only
                return original(out_dir, filename, *args, **kwargs)
            final = osp.join(out_dir, filename)
            os.makedirs(out_dir, exist_ok=True)
            tmp = temp_path_for(final)
            try:
                original(out_dir, osp.basename(tmp), *args, **kwargs)
                commit_file(tmp, final)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise

        save.atomic = True
        patched_before = 'save_checkpoint' in vars(runner)
        runner.save_checkpoint = save
        try:
            yield
        finally:
            if patched_before:
                runner.save_checkpoint = original
            else:
                del runner.save_checkpoint  # back to the class's method

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self._is_local():
            return super()._save_best_checkpoint(runner, metrics)
        self._check_finite(runner)
        with self._atomic_saves(runner):
            super()._save_best_checkpoint(runner, metrics)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._is_local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        self._check_finite(runner)
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        with self._atomic_saves(runner):
            runner.save_checkpoint(
                self.out_dir, ckpt_filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta,
                by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None:
            path = osp.join(self.out_dir, self.filename_tmpl.format(outdated))
            if osp.isfile(path):
                os.remove(path)


@_register
class DivergenceGuardHook(Hook):
    """Stop training at the first non-finite loss (or gradient norm) that damaged the model.

    After every iteration the total ``loss`` (and ``train/grad_norm``, logged when
    ``optim_wrapper.clip_grad`` is set) are checked. A non-finite value stops training with a
    :class:`DivergenceError` naming the iteration and the last good checkpoint, unless the
    weights are still finite and fewer than ``max_skipped_steps`` such steps came in a row:
    that is AMP's dynamic loss scaler skipping an overflowing step, which is harmless. With
    ``SafeCheckpointHook`` no non-finite checkpoint is ever written either.

    Args:
        max_skipped_steps (int): consecutive non-finite steps tolerated while the weights
            stay finite (skipped by a loss scaler). Defaults to 10.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, max_skipped_steps: int = 10):
        if not isinstance(max_skipped_steps, int) or max_skipped_steps < 0:
            raise ValueError(f'DivergenceGuardHook: max_skipped_steps must be an integer '
                             f'>= 0, got {max_skipped_steps!r}.')
        self.max_skipped_steps = max_skipped_steps
        self.skipped = 0

    def before_train(self, runner) -> None:
        self.skipped = 0

    @staticmethod
    def _nonfinite_values(runner, outputs: Optional[Dict]) -> Dict[str, float]:
        found = {}
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        if loss is not None:
            value = float(loss.detach().float().mean()) if torch.is_tensor(loss) \
                else float(loss)
            if not math.isfinite(value):
                found['loss'] = value
        grad_norm = runner.message_hub.log_scalars.get('train/grad_norm')
        if grad_norm is not None:
            value = float(grad_norm.current())
            if not math.isfinite(value):
                found['grad norm'] = value
        return found

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        found = self._nonfinite_values(runner, outputs)
        if get_world_size() > 1:  # every rank must stop together (or none)
            flag = torch.tensor([1.0 if found else 0.0])
            all_reduce(flag, op='max')
            if flag.item() and not found:
                found = {'loss on another process': float('nan')}
        if not found:
            self.skipped = 0
            return
        bad_weights = nonfinite_tensors(_unwrap(runner.model))
        what = ', '.join(f'{k} = {v}' for k, v in found.items())
        if not bad_weights and self.skipped < self.max_skipped_steps:
            self.skipped += 1
            runner.logger.warning(
                f'non-finite {what} at iteration {runner.iter + 1}; the weights are still '
                f'finite (step skipped by the loss scaler), {self.skipped} of '
                f'{self.max_skipped_steps} tolerated in a row.')
            return
        if bad_weights:
            state = f'the weights now hold NaN/Inf (e.g. {", ".join(bad_weights)})'
        else:
            state = (f'{self.skipped + 1} steps in a row were non-finite '
                     f'(max_skipped_steps={self.max_skipped_steps})')
        raise DivergenceError(
            f'training diverged at iteration {runner.iter + 1}: {what} and {state}; training '
            f'stopped and {last_good_checkpoint(runner)}. Lower the learning rate or enable '
            f'gradient clipping (optim_wrapper.clip_grad), then resume from it.')
