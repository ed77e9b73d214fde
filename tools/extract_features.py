"""``python tools/extract_features.py`` in a clone, the ``m5mm-extract-features`` command once installed:
:mod:`m5mm.commands.extract_features`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.extract_features by code that has m5mm already
    pass
from m5mm.commands.extract_features import *  # noqa: F401,F403
from m5mm.commands.extract_features import main

if __name__ == '__main__':
    main()
