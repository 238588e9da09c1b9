"""E9101: a SageMaker variant's scalable target is created after its endpoint.

Application Auto Scaling registers endpoint/<name>/variant/<variant> by name
and fails while that endpoint does not exist. A ResourceId that names the
endpoint through a parameter or a literal gives CloudFormation no order, so it
may create the scalable target first; the target needs a DependsOn (or a
Ref/GetAtt/Sub that reaches the endpoint, directly or through other resources).
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


class SageMakerScalableTargetAfterEndpoint(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "SageMaker scalable target must depend on its endpoint"
    description = (
        "An AWS::ApplicationAutoScaling::ScalableTarget for a SageMaker variant (ServiceNamespace sagemaker) "
        "must depend on the AWS::SageMaker::Endpoint it scales (DependsOn, or a Ref/GetAtt/Sub reaching it); "
        "otherwise it can be registered before the endpoint exists and the stack fails"
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
        "aws-resource-applicationautoscaling-scalabletarget.html"
    )
    tags = ["resources", "sagemaker", "applicationautoscaling", "dependencies", "deploygen"]

    def match(self, cfn):
        endpoints = cfn.get_resources("AWS::SageMaker::Endpoint")
        matches = []
        for name, target in cfn.get_resources("AWS::ApplicationAutoScaling::ScalableTarget").items():
            props = dg.properties(target)
            if "sagemaker" not in dg.strings(props.get("ServiceNamespace")):
                continue
            parsed = dg.sagemaker_variant(cfn, props.get("ResourceId"))
            if parsed is None or parsed[0] is None:
                continue  # the endpoint it names is unknown
            scaled = [e for e, res in endpoints.items() if parsed[0] in dg.endpoint_keys(cfn, e, res)]
            ordered = [dg.reaches(cfn, name, e) for e in scaled]
            if scaled and not any(o is None or o for o in ordered):
                matches.append(
                    RuleMatch(
                        ["Resources", name],
                        f"Scalable target {name} scales a variant of endpoint {scaled[0]} but does not depend "
                        f"on it: add DependsOn: {scaled[0]}",
                    )
                )
        return matches
