"""E9203: a Lambda function's MemorySize and Timeout are within Lambda's hard limits.

A function can use up to 10,240 MB of memory and run for up to 900 seconds
(15 minutes) per invocation; these quotas cannot be raised, so a larger value
fails the deployment. (A model that needs more belongs on SageMaker or ECS.)
Functions on Lambda Managed Instances (CapacityProviderConfig) have other
limits and are skipped.
"""

from __future__ import annotations

import os
import sys

from cfnlint.rules import CloudFormationLintRule, RuleMatch

if __package__:  # imported as generator.rules.<module>
    from . import _deploygen_rules as dg
else:  # loaded on its own by cfn-lint's --append-rules directory loader: the helper is beside it
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import _deploygen_rules as dg

LIMITS = {"MemorySize": (10240, "MB"), "Timeout": (900, "seconds")}


class LambdaLimits(CloudFormationLintRule):
    id = "E9203"
    shortdesc = "Lambda MemorySize and Timeout within Lambda's limits"
    description = "An AWS::Lambda::Function's MemorySize must be at most 10240 (MB) and its Timeout at most 900 (s)"
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
    tags = ["resources", "lambda", "limits", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, function in cfn.get_resources("AWS::Lambda::Function").items():
            props = dg.properties(function)
            if "CapacityProviderConfig" in props:
                continue
            for key, (limit, unit) in LIMITS.items():
                for value in dg.ints(props.get(key)):
                    if value > limit:
                        matches.append(
                            RuleMatch(
                                ["Resources", name, "Properties", key],
                                f"Function {name} has {key} {value}: Lambda allows at most {limit} {unit}",
                            )
                        )
        return matches
