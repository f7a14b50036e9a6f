"""The ``ersm`` command line: thin argparse wrappers around :mod:`ersm.jobs`."""
