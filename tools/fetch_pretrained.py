"""``python tools/fetch_pretrained.py`` in a clone, the ``m5mm-fetch-pretrained`` command once installed:
:mod:`m5mm.commands.fetch_pretrained`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.fetch_pretrained by code that has m5mm already
    pass
from m5mm.commands.fetch_pretrained import *  # noqa: F401,F403
from m5mm.commands.fetch_pretrained import main

if __name__ == '__main__':
    main()
