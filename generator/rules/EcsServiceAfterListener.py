"""E9301: an ECS service behind a load balancer is created after the listener that uses its target group.

ECS refuses to create a service whose target group is not yet attached to a
load balancer ("The target group ... does not have an associated load
balancer"). The service references only the target group, and so does the
listener, so nothing orders service and listener: CloudFormation creates them
in parallel unless the service depends on the listener (or listener rule)
that forwards to its target group, by DependsOn or a reference.
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

LISTENERS = ["AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule"]


class EcsServiceAfterListener(CloudFormationLintRule):
    id = "E9301"
    shortdesc = "ECS service with a load balancer must depend on its listener"
    description = (
        "An AWS::ECS::Service with LoadBalancers must depend (DependsOn or a reference) on the "
        "AWS::ElasticLoadBalancingV2::Listener (or ListenerRule) that forwards to its target group; "
        "otherwise creating the service can fail because the target group has no load balancer yet"
    )
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-dependson.html"
    tags = ["resources", "ecs", "elasticloadbalancingv2", "dependencies", "deploygen"]

    def match(self, cfn):
        groups = set(cfn.get_resources("AWS::ElasticLoadBalancingV2::TargetGroup"))
        listeners = {name: dg.referenced(cfn, dg.properties(res)) for name, res in cfn.get_resources(LISTENERS).items()}
        matches = []
        for service, res in cfn.get_resources("AWS::ECS::Service").items():
            for index, entry in enumerate(dg.as_list(dg.properties(res).get("LoadBalancers"))):
                if not isinstance(entry, dict):
                    continue
                for group in sorted(dg.referenced(cfn, entry.get("TargetGroupArn")) & groups):
                    attaching = sorted(name for name, refs in listeners.items() if group in refs)
                    ordered = [dg.reaches(cfn, service, name) for name in attaching]
                    if attaching and not any(o is None or o for o in ordered):
                        matches.append(
                            RuleMatch(
                                ["Resources", service, "Properties", "LoadBalancers", index],
                                f"Service {service} uses target group {group} but does not depend on {attaching[0]}, "
                                f"which attaches it to the load balancer: add DependsOn: {attaching[0]}",
                            )
                        )
        return matches
