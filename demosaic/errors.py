"""One error family for the whole project.

The CLI turns these into one-line messages and exit codes; nothing else in the
library prints or exits.
"""


class DemosaicError(Exception):
    """Base of every error the project raises on purpose. Exit code 1."""

    exit_code = 1


class InputError(DemosaicError):
    """Bad usage or unreadable input (missing file, wrong size, bad option). Exit code 2."""

    exit_code = 2


class ModelError(DemosaicError):
    """A weights file or model card that cannot be used (checksum, shapes, config)."""


class ExternalToolError(DemosaicError):
    """A subprocess (ffmpeg, ffprobe) failed; keeps its stderr for the log."""

    def __init__(self, message: str, stderr: str = ""):
        super().__init__(message)
        self.stderr = stderr

    def __str__(self) -> str:
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr else []
        return f"{self.args[0]}: {tail[0]}" if tail else str(self.args[0])
