"""E9102: an AWS::SageMaker::EndpointConfig leaves EndpointConfigName to CloudFormation.

Every property of an endpoint configuration requires replacement, so any change
to it (a new model, instance type, variant) creates a new configuration before
the old one is deleted. CloudFormation cannot replace a custom-named resource:
with a fixed EndpointConfigName the update fails because the name is taken.
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


class SageMakerEndpointConfigName(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "SageMaker endpoint configuration must not set EndpointConfigName"
    description = (
        "An AWS::SageMaker::EndpointConfig with an explicit EndpointConfigName cannot be replaced: every change "
        "to an endpoint configuration requires replacement, and CloudFormation refuses to replace a "
        "custom-named resource"
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-name.html"
    tags = ["resources", "sagemaker", "naming", "updates", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, config in cfn.get_resources("AWS::SageMaker::EndpointConfig").items():
            value = dg.properties(config).get("EndpointConfigName")
            if value is not None and not dg.may_be_absent(value):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "EndpointConfigName"],
                        f"EndpointConfig {name} sets EndpointConfigName: any later change replaces it and the "
                        "update fails because the name is taken; leave it out",
                    )
                )
        return matches
