"""``python tools/make_shards.py`` in a clone, the ``m5mm-make-shards`` command once installed:
:mod:`m5mm.commands.make_shards`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.make_shards by code that has m5mm already
    pass
from m5mm.commands.make_shards import *  # noqa: F401,F403
from m5mm.commands.make_shards import main

if __name__ == '__main__':
    main()
