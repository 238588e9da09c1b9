"""W9302: an ECS service turns on the deployment circuit breaker.

Without it, a deployment whose tasks never become healthy (a model that does
not load, a bad image) keeps launching replacement tasks indefinitely, and the
CloudFormation update waits for hours. With DeploymentCircuitBreaker Enable
(and Rollback) ECS marks the deployment failed and can return to the last one
that worked. Services using the CODE_DEPLOY or EXTERNAL controller are skipped.
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


class EcsDeploymentCircuitBreaker(CloudFormationLintRule):
    id = "W9302"
    shortdesc = "ECS service should enable the deployment circuit breaker"
    description = (
        "An AWS::ECS::Service should set DeploymentConfiguration.DeploymentCircuitBreaker.Enable to true "
        "so a failing deployment stops (and rolls back) instead of retrying forever"
    )
    source_url = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html"
    tags = ["resources", "ecs", "deployments", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, service in cfn.get_resources("AWS::ECS::Service").items():
            props = dg.properties(service)
            controller = props.get("DeploymentController")
            if controller is not None:
                if not isinstance(controller, dict) or dg.is_function(controller):
                    continue
                kinds = dg.strings(controller.get("Type"))
                if "Type" in controller and (not kinds or set(kinds) - {"ECS"}):
                    continue
            state = _enabled(props.get("DeploymentConfiguration"))
            if state is False:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"Service {name} has no deployment circuit breaker: set DeploymentConfiguration."
                        "DeploymentCircuitBreaker with Enable: true and Rollback: true",
                    )
                )
        return matches


def _enabled(configuration):
    """True/False when the circuit breaker is known to be on/off, None when not a literal."""
    if configuration is None:
        return False
    if not isinstance(configuration, dict) or dg.is_function(configuration):
        return None
    breaker = configuration.get("DeploymentCircuitBreaker")
    if breaker is None:
        return False
    if not isinstance(breaker, dict) or dg.is_function(breaker):
        return None
    return dg.as_bool(breaker.get("Enable", False))
