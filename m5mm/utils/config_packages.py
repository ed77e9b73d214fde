"""``_base_ = ['m5mm::scale_5mod_tiny.py']``: a plugin's config inherits m5mm's configs by package name.

mmengine writes a config of another package as ``package::path`` and finds it through the
package's ``.mim/configs`` folder; that lookup needs ``pkg_resources`` (gone from recent setuptools),
a path with a folder in it and a hard-coded list of OpenMMLab packages. m5mm resolves its own
prefix, ``m5mm::``, to its ``configs/`` folder (:func:`m5mm.utils.plugins.m5mm_config_path`: next to the
installed package, or ``$M5MM_CONFIGS``) and leaves every other path to mmengine. The resolution is
installed when :mod:`m5mm.utils.config` is imported (every m5mm tool loads configs through it).
"""
from __future__ import annotations

from typing import Optional, Tuple

from mmengine.config import Config

PREFIX = 'm5mm::'


def resolve_base_path(cfg_path: str, filename: str) -> Tuple[str, Optional[str]]:
    """mmengine's ``Config._get_cfg_path`` with ``m5mm::NAME`` resolved to m5mm's ``configs/NAME``.

    The base is read as a file of the including config (no ``_scope_`` is added: m5mm's configs
    already set ``default_scope = 'm5mm'``).
    """
    if cfg_path.startswith(PREFIX):
        from m5mm.utils.plugins import m5mm_config_path
        return m5mm_config_path(cfg_path[len(PREFIX):]), None
    return _MMENGINE_GET_CFG_PATH(cfg_path, filename)


def install() -> None:
    """Let ``Config.fromfile`` resolve ``m5mm::`` bases (idempotent)."""
    if Config._get_cfg_path is not resolve_base_path:
        Config._get_cfg_path = staticmethod(resolve_base_path)


_MMENGINE_GET_CFG_PATH = Config._get_cfg_path
