"""``python tools/search.py`` in a clone, the ``m5mm-search`` command once installed: :mod:`m5mm.commands.search`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.search by code that has m5mm already
    pass
from m5mm.commands.search import *  # noqa: F401,F403
from m5mm.commands.search import main

if __name__ == '__main__':
    main()
