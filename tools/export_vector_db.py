"""``python tools/export_vector_db.py`` in a clone, the ``m5mm-export-vector-db`` command once installed:
:mod:`m5mm.commands.export_vector_db`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.export_vector_db by code that has m5mm already
    pass
from m5mm.commands.export_vector_db import *  # noqa: F401,F403
from m5mm.commands.export_vector_db import main

if __name__ == '__main__':
    main()
