"""``python tools/convert_checkpoint.py`` in a clone, the ``m5mm-convert-checkpoint`` command once installed:
:mod:`m5mm.commands.convert_checkpoint`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.convert_checkpoint by code that has m5mm already
    pass
from m5mm.commands.convert_checkpoint import *  # noqa: F401,F403
from m5mm.commands.convert_checkpoint import main

if __name__ == '__main__':
    main()
