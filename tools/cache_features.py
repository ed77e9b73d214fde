"""``python tools/cache_features.py`` in a clone, the ``m5mm-cache-features`` command once installed:
:mod:`m5mm.commands.cache_features`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.cache_features by code that has m5mm already
    pass
from m5mm.commands.cache_features import *  # noqa: F401,F403
from m5mm.commands.cache_features import main

if __name__ == '__main__':
    main()
