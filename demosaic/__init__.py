"""demosaic: find pixelation mosaics and restore what lies under them.

The package never imports TensorFlow or Ray at import time, so the CLI's `--help`
and input validation stay instant; modules that need TensorFlow import it themselves.
"""

__version__ = "0.1.0"
