"""W9104: a real-time SageMaker endpoint on instances has a scaling policy for each variant.

Without an AWS::ApplicationAutoScaling::ScalingPolicy on its variant
(endpoint/<name>/variant/<variant>, through a scalable target), an instance
variant keeps InitialInstanceCount whatever the load: traffic above what those
instances serve is throttled or times out, and idle instances are paid for.
Real-time only: serverless variants scale by themselves, and asynchronous
endpoints (AsyncInferenceConfig) are left out. A policy whose target this rule
cannot read counts as covering the variant.
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

CONFIG_TYPE = "AWS::SageMaker::EndpointConfig"


class SageMakerEndpointAutoScaling(CloudFormationLintRule):
    id = "W9104"
    shortdesc = "Real-time SageMaker endpoint variants should be autoscaled"
    description = (
        "A real-time AWS::SageMaker::Endpoint whose configuration has an instance variant (InstanceType) "
        "should have an AWS::ApplicationAutoScaling::ScalingPolicy targeting that variant"
    )
    source_url = "https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling.html"
    tags = ["resources", "sagemaker", "applicationautoscaling", "scaling", "deploygen"]

    def match(self, cfn):
        targets = self._policy_targets(cfn)
        configs = cfn.get_resources(CONFIG_TYPE)
        matches = []
        for endpoint, resource in cfn.get_resources("AWS::SageMaker::Endpoint").items():
            keys = dg.endpoint_keys(cfn, endpoint, resource)
            used = dg.referenced(cfn, dg.properties(resource).get("EndpointConfigName")) & set(configs)
            for config in sorted(used):
                props = dg.properties(configs[config])
                if "AsyncInferenceConfig" in props:
                    continue
                for index, item in enumerate(dg.as_list(props.get("ProductionVariants"))):
                    if not isinstance(item, dict) or dg.is_function(item) or "InstanceType" not in item:
                        continue
                    variant = item.get("VariantName")
                    if not isinstance(variant, str) or any(self._covers(t, keys, variant) for t in targets):
                        continue
                    matches.append(
                        RuleMatch(
                            ["Resources", config, "Properties", "ProductionVariants", index],
                            f"Variant {variant} of real-time endpoint {endpoint} has no scaling policy: it stays "
                            "at InitialInstanceCount; add a ScalableTarget and a ScalingPolicy for it",
                        )
                    )
        return matches

    @staticmethod
    def _covers(target, keys, variant):
        if target is None:
            return True  # a policy on a target this rule cannot read
        endpoint, target_variant = target
        return (endpoint is None or endpoint in keys) and target_variant in (None, variant)

    @staticmethod
    def _policy_targets(cfn):
        """(endpoint key, variant) of every SageMaker scaling policy's target; None for unreadable ones."""
        scalable = cfn.get_resources("AWS::ApplicationAutoScaling::ScalableTarget")
        found = []
        for policy in cfn.get_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values():
            props = dg.properties(policy)
            named = dg.referenced(cfn, props.get("ScalingTargetId")) & set(scalable)
            source = dg.properties(scalable[named.pop()]) if len(named) == 1 else props
            namespaces = dg.strings(source.get("ServiceNamespace"))
            if namespaces and "sagemaker" not in namespaces:
                continue  # scales something else (ECS, Lambda...)
            found.append(dg.sagemaker_variant(cfn, source.get("ResourceId")) if namespaces else None)
        return found
