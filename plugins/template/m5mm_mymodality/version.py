__version__ = '0.2.0'
# The m5mm versions this release supports (same range as install_requires in setup.cfg).
M5MM_REQUIREMENT = '>=0.2,<0.3'
