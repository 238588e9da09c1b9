"""E9204: Lambda provisioned concurrency is configured on an alias or a published version.

Provisioned concurrency belongs to a function's alias or version, never to
the function itself ($LATEST). In CloudFormation that means
ProvisionedConcurrencyConfig on an AWS::Lambda::Alias or AWS::Lambda::Version
only, and an Application Auto Scaling target for
lambda:function:ProvisionedConcurrency whose ResourceId is
function:<name>:<alias or version>; without the qualifier (or with $LATEST)
registering the target fails.
"""

from __future__ import annotations

import os
import re
import sys

from cfnlint.rules import CloudFormationLintRule, RuleMatch

if __package__:  # imported as generator.rules.<module>
    from . import _deploygen_rules as dg
else:  # loaded on its own by cfn-lint's --append-rules directory loader: the helper is beside it
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import _deploygen_rules as dg

QUALIFIED = ("AWS::Lambda::Alias", "AWS::Lambda::Version")
DIMENSION = "lambda:function:ProvisionedConcurrency"


class LambdaProvisionedConcurrencyQualifier(CloudFormationLintRule):
    id = "E9204"
    shortdesc = "Lambda provisioned concurrency on an alias or version only"
    description = (
        "ProvisionedConcurrencyConfig belongs on an AWS::Lambda::Alias or AWS::Lambda::Version, and a "
        "scalable target for lambda:function:ProvisionedConcurrency must name one "
        "(ResourceId function:<name>:<alias or version>, not $LATEST)"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html"
    tags = ["resources", "lambda", "applicationautoscaling", "concurrency", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, res in cfn.get_resources().items():
            kind = res.get("Type")
            if isinstance(kind, str) and kind.startswith("AWS::Lambda::") and kind not in QUALIFIED:
                if "ProvisionedConcurrencyConfig" in dg.properties(res):
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties", "ProvisionedConcurrencyConfig"],
                            f"{kind} {name} cannot have provisioned concurrency: configure it on an "
                            "AWS::Lambda::Alias or AWS::Lambda::Version",
                        )
                    )
        for name, target in cfn.get_resources("AWS::ApplicationAutoScaling::ScalableTarget").items():
            props = dg.properties(target)
            if DIMENSION not in dg.strings(props.get("ScalableDimension")):
                continue
            resource_id = _resolve(cfn, props.get("ResourceId"))
            if resource_id is None:
                continue  # names something this rule cannot read
            parts = resource_id.split(":")
            if parts[0] == "function" and (len(parts) < 3 or parts[2] in ("", "$LATEST")):
                written = dg.as_template(props.get("ResourceId"))[0]
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "ResourceId"],
                        f"Scalable target {name} sets provisioned concurrency on {written}, not on an alias or "
                        "version: use function:<name>:<alias or version>",
                    )
                )
        return matches


def _resolve(cfn, value):
    """The ResourceId as text, with ${Function} as a name and ${Version.Version} as a number; None if unknown."""
    template = dg.as_template(value)
    if template is None:
        return None
    text, variables = template
    unknown = False

    def substitute(found):
        nonlocal unknown
        name = found.group(1)
        if name in variables and isinstance(variables[name], str):
            return variables[name]
        head, _, attribute = name.partition(".")
        if name not in variables and dg.resource_type(cfn, head) == "AWS::Lambda::Function" and not attribute:
            return "function-name"  # Ref to a function is its name
        if name not in variables and dg.resource_type(cfn, head) == "AWS::Lambda::Version" and attribute == "Version":
            return "1"
        unknown = True
        return ""

    text = re.sub(r"\$\{([^}!][^}]*)\}", substitute, text)
    return None if unknown else text
