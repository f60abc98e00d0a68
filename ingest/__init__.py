"""gridhouse: the thin loader and the command line of the energy-analytics warehouse."""

__version__ = "0.1.0"
