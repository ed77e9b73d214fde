from .build import ConfigKeyError, UnknownModuleError, build_with_hints
from .plugins import load_plugins, plugin_status

__all__ = ['ConfigKeyError', 'UnknownModuleError', 'build_with_hints', 'load_plugins', 'plugin_status']
