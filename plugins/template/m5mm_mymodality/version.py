__version__ = '0.1.0'
# The m5mm versions this release supports (same range as install_requires in setup.cfg).
M5MM_REQUIREMENT = '>=0.1,<0.2'
