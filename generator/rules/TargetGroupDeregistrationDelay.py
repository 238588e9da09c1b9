"""I9304: a load balancer target group sets its deregistration delay.

Left unset, deregistration_delay.timeout_seconds is 300: every task a
deployment or a scale-in replaces stays draining for five minutes, though a
model server's requests finish in seconds. Informational, not a warning: 300 s
breaks nothing and is AWS's default, it only makes deployments and scale-in
slow; set it to a little more than the longest request. Lambda target groups
(which do not support the attribute) are skipped.
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

KEY = "deregistration_delay.timeout_seconds"


class TargetGroupDeregistrationDelay(CloudFormationLintRule):
    id = "I9304"
    shortdesc = "Target group deregistration delay left at the 300 s default"
    description = (
        "An AWS::ElasticLoadBalancingV2::TargetGroup should set deregistration_delay.timeout_seconds in "
        "TargetGroupAttributes instead of keeping the 300 second default"
    )
    source_url = (
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/"
        "edit-target-group-attributes.html#deregistration-delay"
    )
    tags = ["resources", "elasticloadbalancingv2", "deployments", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, group in cfn.get_resources("AWS::ElasticLoadBalancingV2::TargetGroup").items():
            props = dg.properties(group)
            if "lambda" in dg.strings(props.get("TargetType")):
                continue
            if _sets_delay(props.get("TargetGroupAttributes")) is False:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"Target group {name} keeps the 300 s deregistration delay: set {KEY} to a little "
                        "more than the longest request",
                    )
                )
        return matches


def _sets_delay(attributes):
    """True/False when the attribute list is known to set/not set the delay, None when not a literal."""
    if attributes is None or dg.is_no_value(attributes):
        return False
    if not isinstance(attributes, list):
        return None
    for attribute in attributes:
        if not isinstance(attribute, dict) or dg.is_function(attribute):
            return None
        key = attribute.get("Key")
        if not isinstance(key, str):
            return None
        if key == KEY:
            return True
    return False
