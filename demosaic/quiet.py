"""TensorFlow's import for a command: its start-up banner kept off the output, and quicker.

Importing TensorFlow writes several lines to file descriptor 2 from C++ ("All log messages
before absl::InitializeLog() is called...", "oneDNN custom operations are on...", the CPU
feature notice), whatever TF_CPP_MIN_LOG_LEVEL says: they come before its logging is set up.
`install()` adds an import hook that runs TensorFlow's own import with descriptor 2 going
through a filter that passes on every line that is not one of those notices. Only the CLI
installs it; the library never touches a process's descriptors on import.

The same hook keeps two optional packages out of that import (`REFUSED`), each of which
TensorFlow or Keras takes as absent when it is missing, and which the project's own code
imports later, when the hook no longer refuses them:

- matplotlib: Keras imports `matplotlib.pyplot` for its plotting helpers when it is installed
  (it is, for training's plots), about 0.4 s of every command's start-up on 2 cores (3.0–3.2 s
  against 3.2–3.7 s for `import tensorflow, keras`);
- scipy (installed for the tests and scikit-image): TensorFlow's legacy tf.keras v1 engine,
  which Keras 3 never runs, imports `scipy.sparse` for `issparse` (guarded: `None` without
  it), which pulls in scipy's array-API layer and through it `numpy.f2py` and
  `numpy.testing`: 2.64 against 3.20 s (medians of 8 in turn, wall; CPU 2.80 against 3.37 s).

And it runs the import without the cyclic garbage collector (`_collector_paused`): the
import makes some 440,000 objects that live as long as the process, yet the collector went
over all of them four times on the way (0.25–0.32 s), and again at each full collection of
the command's run (5 in a run of issue #11's clip, 0.44 s). What is garbage before the import
is collected (while the process is small), and what lives after it is frozen (`gc.freeze`:
never scanned again): `import tensorflow, keras` 1.76–2.06 s against 2.04–2.59 s (5 in turn).
The price: the little garbage the import itself leaves in reference cycles (900–1,200
objects, under 1 MB: frames held by exceptions, closures, a few classes) is frozen with the
rest and never freed.
"""
from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.machinery
import os
import re
import subprocess
import sys

# The notices TensorFlow prints while it loads, none of which asks anything of the user.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+\s+\d+ (port|cpu_feature_guard|cuda_\w+|gpu_device)\.cc:\d+\]"
    r"|To enable the following instructions:"
    r"|.*oneDNN custom operations are on"
    r"|.*Unable to register cu(DNN|FFT|BLAS) factory"
    r"|.*TF-TRT Warning: Could not find TensorRT)")


# The filter: its own process, so that what reached the pipe is still shown if this one
# dies inside the block (a fatal TensorFlow message is followed by an abort).
_FILTER = ("import re, sys\n"
           "noise = re.compile(sys.argv[1])\n"
           "for line in sys.stdin.buffer:\n"
           "    if not noise.match(line.decode(errors='replace')):\n"
           "        sys.stdout.buffer.write(line)\n"
           "        sys.stdout.buffer.flush()\n")


@contextlib.contextmanager
def filtered_stderr():
    """Inside the block, descriptor 2 goes through a filter process that passes on, as they
    come, the lines that are not `NOISE`."""
    sys.stderr.flush()
    saved = os.dup(2)
    child = subprocess.Popen([sys.executable, "-S", "-c", _FILTER, NOISE.pattern], stdin=subprocess.PIPE,
                             stdout=saved, stderr=saved)
    os.dup2(child.stdin.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        child.stdin.close()
        child.wait(timeout=30)
        os.close(saved)


# Top-level packages refused while TensorFlow loads (see the module's doc for why each).
REFUSED = ("matplotlib", "scipy")


class _QuietLoader(importlib.abc.Loader):
    """The package's own loader, its module executed inside `filtered_stderr`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        refuse = _Refused()
        sys.meta_path.insert(0, refuse)
        try:
            with filtered_stderr(), _collector_paused():
                self._loader.exec_module(module)
        finally:
            sys.meta_path.remove(refuse)

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: the real loader's
        return getattr(self._loader, name)


@contextlib.contextmanager
def _collector_paused():
    """Inside the block no cyclic garbage collection; what lives after it is frozen if the
    block ends normally (see the module's doc). A collector already off stays off and nothing
    is frozen."""
    if not gc.isenabled():
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
        gc.freeze()
    finally:
        gc.enable()


class _Refused(importlib.abc.MetaPathFinder):
    """Refuses the `REFUSED` packages and their modules not yet imported, while TensorFlow loads."""

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (while TensorFlow loads)", name=fullname)
        return None


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Quiet TensorFlow's import in this process (once; a no-op when it is already imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
