"""``python -m ersm ...`` (and ``torchrun ... -m ersm train ...``): the command line."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
