"""``python tools/make_catalogue.py`` in a clone, the ``m5mm-make-catalogue`` command once installed:
:mod:`m5mm.commands.make_catalogue`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.make_catalogue by code that has m5mm already
    pass
from m5mm.commands.make_catalogue import *  # noqa: F401,F403
from m5mm.commands.make_catalogue import main

if __name__ == '__main__':
    main()
