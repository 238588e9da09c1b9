"""W9105: a SageMaker model's execution role attaches no *FullAccess managed policy.

The role a Model runs with (ExecutionRoleArn) is what the serving container
can do in the account. AWS managed policies such as AmazonSageMakerFullAccess or
AmazonS3FullAccess grant every action of a service on every resource; an
inference container needs to pull one image, read one model object and write
its logs. IAM best practice: move from AWS managed policies to least privilege.
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


class SageMakerRoleFullAccess(CloudFormationLintRule):
    id = "W9105"
    shortdesc = "SageMaker execution role should not attach *FullAccess managed policies"
    description = (
        "An AWS::IAM::Role used as a SageMaker Model's ExecutionRoleArn should not list a managed policy ARN "
        "ending in FullAccess (for example AmazonSageMakerFullAccess or AmazonS3FullAccess)"
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html"
    tags = ["resources", "sagemaker", "iam", "security", "deploygen"]

    def match(self, cfn):
        roles = cfn.get_resources("AWS::IAM::Role")
        used = set()
        for model in cfn.get_resources("AWS::SageMaker::Model").values():
            used |= dg.referenced(cfn, dg.properties(model).get("ExecutionRoleArn")) & set(roles)
        matches = []
        for role in sorted(used):
            for index, arn in enumerate(dg.as_list(dg.properties(roles[role]).get("ManagedPolicyArns"))):
                template = dg.as_template(arn)  # a Sub or Join: its literal tail still names the policy
                texts = dg.strings(arn) + ([template[0]] if template else [])
                full = [t for t in texts if t.endswith("FullAccess")]
                if full:
                    matches.append(
                        RuleMatch(
                            ["Resources", role, "Properties", "ManagedPolicyArns", index],
                            f"Execution role {role} of a SageMaker model attaches {full[0].rsplit('/', 1)[-1]}: "
                            "grant only the actions and resources the endpoint needs",
                        )
                    )
        return matches
