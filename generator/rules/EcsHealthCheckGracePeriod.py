"""W9303: an ECS service behind a load balancer gives new tasks a health check grace period.

HealthCheckGracePeriodSeconds is how long the ECS scheduler ignores failing
load balancer health checks after a task starts; it defaults to 0. A model
server answers its health check only once the model is loaded, so with no (or
a very short) grace period ECS stops tasks that were still loading and a
deployment never becomes healthy. deploygen asks for at least 30 seconds.
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

MIN_GRACE = 30


class EcsHealthCheckGracePeriod(CloudFormationLintRule):
    id = "W9303"
    shortdesc = "ECS service health check grace period of at least 30 seconds"
    description = (
        "An AWS::ECS::Service should set HealthCheckGracePeriodSeconds to 30 or more, and must not leave it "
        "unset (0) when it has LoadBalancers"
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecs-service.html"
        "#cfn-ecs-service-healthcheckgraceperiodseconds"
    )
    tags = ["resources", "ecs", "health", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, service in cfn.get_resources("AWS::ECS::Service").items():
            props = dg.properties(service)
            grace = props.get("HealthCheckGracePeriodSeconds")
            if grace is None or dg.is_no_value(grace):
                balancers = props.get("LoadBalancers")
                if isinstance(balancers, list) and balancers:
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties"],
                            f"Service {name} has LoadBalancers but no HealthCheckGracePeriodSeconds (0): tasks "
                            f"still loading the model fail health checks; set at least {MIN_GRACE}",
                        )
                    )
                continue
            for seconds in dg.ints(grace):
                if seconds < MIN_GRACE:
                    matches.append(
                        RuleMatch(
                            ["Resources", name, "Properties", "HealthCheckGracePeriodSeconds"],
                            f"Service {name} has HealthCheckGracePeriodSeconds {seconds}: give tasks at least "
                            f"{MIN_GRACE} s to load the model before health checks count",
                        )
                    )
        return matches
