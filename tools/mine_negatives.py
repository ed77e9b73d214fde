"""``python tools/mine_negatives.py`` in a clone, the ``m5mm-mine-negatives`` command once installed:
:mod:`m5mm.commands.mine_negatives`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.mine_negatives by code that has m5mm already
    pass
from m5mm.commands.mine_negatives import *  # noqa: F401,F403
from m5mm.commands.mine_negatives import main

if __name__ == '__main__':
    main()
