"""E9103: a serverless variant's memory and concurrency are values SageMaker accepts.

ServerlessConfig.MemorySizeInMB takes 1 GB steps only (1024 to 6144 MB; the
resource schema checks the range, not the steps), and ProvisionedConcurrency
must not exceed MaxConcurrency. Either mistake fails the endpoint configuration.
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

MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)


class SageMakerServerlessConfig(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "SageMaker serverless memory size and provisioned concurrency"
    description = (
        "ServerlessConfig.MemorySizeInMB must be one of 1024, 2048, 3072, 4096, 5120 or 6144, and "
        "ProvisionedConcurrency must be less than or equal to MaxConcurrency"
    )
    source_url = (
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
        "aws-properties-sagemaker-endpointconfig-serverlessconfig.html"
    )
    tags = ["resources", "sagemaker", "serverless", "deploygen"]

    def match(self, cfn):
        matches = []
        for name, config in cfn.get_resources("AWS::SageMaker::EndpointConfig").items():
            props = dg.properties(config)
            for key in ("ProductionVariants", "ShadowProductionVariants"):
                for index, item in enumerate(dg.as_list(props.get(key))):
                    for variant in dg.literals(item):
                        if isinstance(variant, dict):
                            path = ["Resources", name, "Properties", key, index, "ServerlessConfig"]
                            matches.extend(self._check(variant.get("ServerlessConfig"), path))
        return matches

    @staticmethod
    def _check(value, path):
        for serverless in dg.literals(value):
            if not isinstance(serverless, dict):
                continue
            for memory in dg.ints(serverless.get("MemorySizeInMB")):
                if memory not in MEMORY_SIZES:
                    yield RuleMatch(
                        path + ["MemorySizeInMB"],
                        f"MemorySizeInMB {memory} is not a serverless memory size: use one of "
                        + ", ".join(map(str, MEMORY_SIZES)),
                    )
            for provisioned in dg.ints(serverless.get("ProvisionedConcurrency")):
                for maximum in dg.ints(serverless.get("MaxConcurrency")):
                    if provisioned > maximum:
                        yield RuleMatch(
                            path + ["ProvisionedConcurrency"],
                            f"ProvisionedConcurrency {provisioned} is above MaxConcurrency {maximum}",
                        )
