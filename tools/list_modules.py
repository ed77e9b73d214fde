"""``python tools/list_modules.py`` in a clone, the ``m5mm-list-modules`` command once installed:
:mod:`m5mm.commands.list_modules`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.list_modules by code that has m5mm already
    pass
from m5mm.commands.list_modules import *  # noqa: F401,F403
from m5mm.commands.list_modules import main

if __name__ == '__main__':
    main()
