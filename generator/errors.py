"""The errors deploygen reports to a user, each with its documented exit code.

Every error a user can fix is one of these: the CLI prints its message on one
line and exits with its code; no traceback reaches the terminal.
"""


class DeployGenError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""

    exit_code = 1


class ArtifactError(DeployGenError):
    """The model artifact is missing, unreadable, or not what it claims to be."""

    exit_code = 3


class SpecError(DeployGenError):
    """deploygen.yaml or an option is invalid, or the model does not fit the target."""

    exit_code = 4


class OutputError(DeployGenError):
    """The output folder exists (and --force was not given) or cannot be written."""

    exit_code = 5


class ServeError(DeployGenError):
    """A project cannot be served here: its requirements are missing, or the port is taken."""

    exit_code = 6


class MeasureError(ServeError):
    """The model could not be loaded or run in the measuring process (its requirements, or the model itself)."""


class ConflictError(DeployGenError):
    """Re-rendering would overwrite or remove a generated file the user edited; nothing was written."""

    exit_code = 7


class PathError(DeployGenError):
    """A path given on the command line does not exist."""

    exit_code = 2  # the same as click's usage errors: the command line itself is wrong


# Exit codes, documented in README.md ("Exit codes"); one place for all of them.
EXIT_OK = 0
EXIT_LINT_FAILED = 32  # lint could not run; its other codes are cfn-lint's bit flags (generator/lint.py)
EXIT_USAGE = 2  # click's own code for a bad option or argument
EXIT_INTERNAL = 70  # a bug in deploygen: the message asks for a report
