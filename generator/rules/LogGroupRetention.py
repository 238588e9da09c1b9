"""W9401: a CloudWatch Logs log group sets RetentionInDays.

Without RetentionInDays a log group's events never expire: an inference service
logging every request accumulates storage cost forever, and any personal data
in the logs is kept with it. Set a retention period.
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


class LogGroupRetention(CloudFormationLintRule):
    id = "W9401"
    shortdesc = "Log group without a retention period"
    description = "An AWS::Logs::LogGroup should set RetentionInDays; without it its logs never expire"
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-loggroup.html"
        "#cfn-logs-loggroup-retentionindays"
    )
    tags = ["resources", "logs", "cost", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, group in cfn.get_resources("AWS::Logs::LogGroup").items():
            retention = dg.properties(group).get("RetentionInDays")
            if retention is None or dg.is_no_value(retention):
                path = ["Resources", name, "Properties"] if "Properties" in group else ["Resources", name]
                matches.append(
                    RuleMatch(path, f"Log group {name} has no RetentionInDays: its logs are kept forever")
                )
        return matches
