"""W9402: no IAM policy statement allows a whole service (s3:*, ecr:*, sagemaker:*) or * on Resource *.

A deployment's roles need a handful of actions on the stack's own bucket,
repository, model and log group. A statement that allows every S3, ECR or
SageMaker action (or every action) on every resource turns a compromised
container or function into access to all of the account's data, images and
endpoints. Checked: inline Policies of roles, users and groups, and
AWS::IAM::Policy, ManagedPolicy, RolePolicy, UserPolicy and GroupPolicy documents.
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

BROAD = {"*", "s3:*", "ecr:*", "sagemaker:*"}
INLINE = ["AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"]
DOCUMENTS = [
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::UserPolicy",
    "AWS::IAM::GroupPolicy",
]


class IamWildcardAccess(CloudFormationLintRule):
    id = "W9402"
    shortdesc = "IAM statement allows s3:*, ecr:*, sagemaker:* or * on every resource"
    description = (
        "An IAM policy statement should not Allow the actions *, s3:*, ecr:* or sagemaker:* with Resource *; "
        "grant the specific actions on the specific resources the deployment uses"
    )
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html"
    tags = ["resources", "iam", "security", "deploygen"]

    def match(self, cfn):
        documents = []  # (path, document)
        for name, res in cfn.get_resources(INLINE).items():
            for index, policy in enumerate(dg.as_list(dg.properties(res).get("Policies"))):
                if isinstance(policy, dict) and not dg.is_function(policy):
                    path = ["Resources", name, "Properties", "Policies", index, "PolicyDocument"]
                    documents.append((path, policy.get("PolicyDocument")))
        for name, res in cfn.get_resources(DOCUMENTS).items():
            path = ["Resources", name, "Properties", "PolicyDocument"]
            documents.append((path, dg.properties(res).get("PolicyDocument")))
        matches = []
        for path, document in documents:
            document = dg.json_document(document)
            if not isinstance(document, dict):
                continue
            statements = document.get("Statement")
            listed = isinstance(statements, list)
            for index, statement in enumerate(statements if listed else [statements]):
                if not isinstance(statement, dict) or "Allow" not in dg.strings(statement.get("Effect")):
                    continue
                broad = sorted({a for a in dg.strings(statement.get("Action")) if a.lower() in BROAD})
                if broad and "*" in dg.strings(statement.get("Resource")):
                    matches.append(
                        RuleMatch(
                            path + (["Statement", index] if listed else ["Statement"]),
                            f"Statement allows {', '.join(broad)} on Resource '*': name the actions and the "
                            "resources this deployment needs",
                        )
                    )
        return matches
