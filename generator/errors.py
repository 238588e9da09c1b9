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


class OutputExistsError(DeployGenError):
    """Writing would overwrite something that is not deploygen's to replace."""

    exit_code = 5


# Exit codes, documented in README.md ("Exit codes"); one place for all of them.
EXIT_OK = 0
EXIT_LINT_FINDINGS = 1
EXIT_USAGE = 2  # click's own code for a bad option or argument
EXIT_INTERNAL = 70  # a bug in deploygen: the message asks for a report
