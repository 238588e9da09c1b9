"""W9305: the security groups of an ECS service's tasks are not open to the internet.

Tasks behind a load balancer should accept traffic from the load balancer's
security group only. An ingress rule from 0.0.0.0/0 or ::/0 on a group in the
service's AwsvpcConfiguration.SecurityGroups lets anyone reach the container
directly (with a public IP, from the internet), bypassing the load balancer,
its TLS and its limits. The load balancer's own group may be open; the task's
must not. Inline SecurityGroupIngress and AWS::EC2::SecurityGroupIngress
resources are both checked.
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

OPEN = {"CidrIp": "0.0.0.0/0", "CidrIpv6": "::/0"}


class EcsTaskSecurityGroupOpen(CloudFormationLintRule):
    id = "W9305"
    shortdesc = "ECS task security group open to the internet"
    description = (
        "A security group in an AWS::ECS::Service's NetworkConfiguration.AwsvpcConfiguration.SecurityGroups "
        "should not have an ingress rule from 0.0.0.0/0 or ::/0; let only the load balancer's group in"
    )
    source_url = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/networking-inbound.html"
    tags = ["resources", "ecs", "ec2", "security", "deploygen"]

    def match(self, cfn):
        groups = cfn.get_resources("AWS::EC2::SecurityGroup")
        task_groups = set()
        for service in cfn.get_resources("AWS::ECS::Service").values():
            network = dg.properties(service).get("NetworkConfiguration")
            awsvpc = network.get("AwsvpcConfiguration") if isinstance(network, dict) else None
            if isinstance(awsvpc, dict):
                task_groups |= dg.referenced(cfn, awsvpc.get("SecurityGroups")) & set(groups)
        rules = []  # (path, rule) of every ingress rule of a task group
        for group in sorted(task_groups):
            for index, rule in enumerate(dg.as_list(dg.properties(groups[group]).get("SecurityGroupIngress"))):
                rules.append((["Resources", group, "Properties", "SecurityGroupIngress", index], group, rule))
        for name, ingress in cfn.get_resources("AWS::EC2::SecurityGroupIngress").items():
            props = dg.properties(ingress)
            for group in sorted(dg.referenced(cfn, props.get("GroupId")) & task_groups):
                rules.append((["Resources", name, "Properties"], group, props))
        matches = []
        for path, group, rule in rules:
            for candidate in dg.literals(rule):
                if not isinstance(candidate, dict):
                    continue
                for key, everyone in OPEN.items():
                    if everyone in dg.strings(candidate.get(key)):
                        matches.append(
                            RuleMatch(
                                path,
                                f"Security group {group} of an ECS service's tasks allows ingress from {everyone}: "
                                "allow only the load balancer's security group",
                            )
                        )
        return matches
