"""Deprecated (m5mm 0.2 name): see :mod:`m5mm.models.activation_checkpointing`."""
import warnings

from .activation_checkpointing import outermost, set_grad_checkpointing  # noqa: F401

warnings.warn('m5mm.models.stacks is renamed m5mm.models.activation_checkpointing (m5mm 0.3)', FutureWarning,
              stacklevel=2)
