"""``python -m retinacodec`` (and ``torchrun -m retinacodec``): the command line."""

import sys

from retinacodec.cli import main

if __name__ == "__main__":
    sys.exit(main())
