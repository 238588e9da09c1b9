"""AWS-safe names derived from a project name.

A project name can be anything a person types; the names that reach AWS, the
rendered files and the shell scripts cannot. Everything downstream uses only
the names made here, which match the strictest pattern any of them needs
(lowercase letters, digits and single dashes), so no quote, newline, `{{ }}`
or `${}` in a user's name can reach a rendered file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import SpecError
from .limits import limit

# The tightest of the names below: a SageMaker endpoint name (63) is the shortest.
MAX_SLUG_LENGTH = 63


@dataclass(frozen=True)
class AwsNames:
    slug: str  # project directory and the base of every other name
    function_name: str  # Lambda function
    stack_name: str  # CloudFormation stack: <slug>-<target>, so a project's stacks on two targets coexist
    ecr_repository: str  # ECR repository: <slug>-<target>, deleted with its own stack only
    endpoint_name: str  # SageMaker endpoint


def slugify(name: str) -> str:
    """Lowercase ASCII letters, digits and single dashes; "" when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if slug[:1].isdigit():
        slug = f"model-{slug}"  # every AWS name here must start with a letter
    return slug[:MAX_SLUG_LENGTH].rstrip("-")


def aws_names(name: str, target: str = "") -> AwsNames:
    """Derive every AWS name from a project name (and target), or refuse when none can be made.

    The stack and the repository carry the target: after `deploygen switch` the new stack is
    deployed beside the old one, clients move, and the old one is removed with nothing shared.
    """
    slug = slugify(name)
    if len(slug) < limit("names", "ecr_repository")["min"]:
        raise SpecError(
            f"no AWS-safe name can be made from {name!r}: "
            "give --name with at least two ASCII letters or digits"
        )
    per_target = f"{slug}-{target}" if target else slug
    names = AwsNames(slug=slug, function_name=slug, stack_name=per_target, ecr_repository=per_target,
                     endpoint_name=slug)
    _check(names)
    return names


def _check(names: AwsNames) -> None:
    # The slug rules imply these; checking them against the data file keeps the
    # two honest if either changes.
    stack, repo = limit("names", "stack_name"), limit("names", "ecr_repository")
    assert re.fullmatch(stack["pattern"], names.stack_name) and len(names.stack_name) <= stack["max"]
    assert re.fullmatch(repo["pattern"], names.ecr_repository) and len(names.ecr_repository) <= repo["max"]
    assert len(names.function_name) <= limit("lambda", "function_name_length")["max"]
    assert re.fullmatch(limit("sagemaker", "endpoint_name")["pattern"], names.endpoint_name)
