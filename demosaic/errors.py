"""One error family for the whole project.

The CLI turns these into one-line messages and exit codes; nothing else in the
library prints or exits.
"""
import re

# ffmpeg's closing lines that only say that something failed, not what: the cause is the
# line before them ("[matroska @ 0x..] Subtitle codec 94213 is not supported.").
_GENERIC = re.compile(r"^(Error initializing output stream|Conversion failed|Could not write header|"
                      r"Error while (opening|filtering|processing|decoding)|Error opening output file|"
                      r"Nothing was written|Exiting normally|Error closing file|Error writing trailer)")
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+\]")


def cause_line(stderr: str) -> str:
    """The line of a tool's stderr that says why it failed: the last one that is not one of
    ffmpeg's generic closing lines, without the pointer address ffmpeg prints."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if not _GENERIC.match(line)] or lines
    return _ADDRESS.sub("]", causes[-1]) if causes else ""


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
        cause = cause_line(self.stderr)
        return f"{self.args[0]}: {cause}" if cause else str(self.args[0])
