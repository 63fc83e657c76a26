"""A command's exit without the cyclic garbage collector's passes over what TensorFlow built.

Once TensorFlow is imported a process holds some 300,000–440,000 objects (one full collection
over them: 0.15 s on 2 cores), and the interpreter's shutdown, clearing thousands of modules,
collected again and again: `python -c "import cli, tensorflow"` took 3.45 s against 2.54 s
with the collector frozen at exit (medians of 6 in turn, wall, on an AMD EPYC with AVX-512
BF16; `benchmarks/startup/parts.txt`). `install()` registers an exit handler that freezes it
(`gc.freeze`; `gc.disable` keeps allocations from starting one). The shutdown still joins
non-daemon threads (before any exit handler), runs the exit handlers registered after this
one before it (in the `demosaic` command: all of them, such as temporary folders, logging
and Ray), flushes the standard streams and frees what reference counting frees. What it
skips is finding objects caught in reference cycles: their `__del__` methods and weakref
callbacks do not run, and the operating system takes their memory back with the process.
The project closes its files, writers and child processes itself, and a command has written
its outputs atomically, or removed what a failure left, before it returns (the CLI tests'
`nothing_written` cases check this in-process, where no exit comes into it).
"""
from __future__ import annotations

import atexit
import gc


def _freeze() -> None:
    gc.disable()
    gc.freeze()


def install() -> None:
    """Freeze the collector when this process exits (once; the CLI calls it on import)."""
    atexit.unregister(_freeze)
    atexit.register(_freeze)
