"""``python tools/train.py`` in a clone, the ``m5mm-train`` command once installed: :mod:`m5mm.commands.train`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.train by code that has m5mm already
    pass
from m5mm.commands.train import *  # noqa: F401,F403
from m5mm.commands.train import main

if __name__ == '__main__':
    main()
