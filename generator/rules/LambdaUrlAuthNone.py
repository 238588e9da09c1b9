"""W9201: a Lambda function URL with AuthType NONE is public.

With AuthType NONE Lambda authenticates nothing: anyone who finds the URL can
invoke the model (and run up its cost). Sometimes that is the intent (deploygen
--auth none); the warning makes it a visible decision.
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


class LambdaUrlAuthNone(CloudFormationLintRule):
    id = "W9201"
    shortdesc = "Lambda function URL without authentication"
    description = (
        "An AWS::Lambda::Url with AuthType NONE lets anyone on the internet invoke the function; "
        "use AWS_IAM unless the endpoint is meant to be public"
    )
    source_url = "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
    tags = ["resources", "lambda", "security", "deploygen"]

    def match(self, cfn):
        return [
            RuleMatch(
                ["Resources", name, "Properties", "AuthType"],
                f"Function URL {name} has AuthType NONE: anyone can invoke it without signing requests",
            )
            for name, url in cfn.get_resources("AWS::Lambda::Url").items()
            if "NONE" in dg.strings(dg.properties(url).get("AuthType"))
        ]
