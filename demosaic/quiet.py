"""TensorFlow's start-up banner kept off a command's output.

Importing TensorFlow writes several lines to file descriptor 2 from C++ ("All log messages
before absl::InitializeLog() is called...", "oneDNN custom operations are on...", the CPU
feature notice), whatever TF_CPP_MIN_LOG_LEVEL says: they come before its logging is set up.
`install()` adds an import hook that runs TensorFlow's own import with descriptor 2 caught in
a temporary file, then passes on every line that is not one of those notices. Only the CLI
installs it; the library never touches a process's descriptors on import.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# The notices TensorFlow prints while it loads, none of which asks anything of the user.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+\s+\d+ (port|cpu_feature_guard|cuda_\w+|gpu_device)\.cc:\d+\]"
    r"|To enable the following instructions:"
    r"|.*oneDNN custom operations are on"
    r"|.*Unable to register cu(DNN|FFT|BLAS) factory"
    r"|.*TF-TRT Warning: Could not find TensorRT)")


@contextlib.contextmanager
def filtered_stderr():
    """Descriptor 2 goes to a temporary file inside the block; afterwards every line of it
    that is not `NOISE` is written to stderr, in order."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOISE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """The package's own loader, its module executed inside `filtered_stderr`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self._loader.exec_module(module)

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: the real loader's
        return getattr(self._loader, name)


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
