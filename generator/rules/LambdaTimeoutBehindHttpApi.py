"""E9202: a Lambda function behind an API Gateway HTTP API has a Timeout of at most 30 s.

An HTTP API waits at most 30 seconds for an integration (a quota that cannot be
raised; WebSocket APIs allow 29 s). A function that may run longer behind it
keeps running, and billing, after the client already got a 503. The function
counts as behind the API when an AWS::ApiGatewayV2::Integration's
IntegrationUri names it, one of its aliases or versions, or its ARN.
"""

from __future__ import annotations

import os
import re
import sys

from cfnlint.rules import CloudFormationLintRule, RuleMatch

if __package__:  # imported as generator.rules.<module>
    from . import _deploygen_rules as dg
else:  # loaded on its own by cfn-lint's --append-rules directory loader: the helper is beside it
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import _deploygen_rules as dg

FUNCTION = "AWS::Lambda::Function"
MAX_TIMEOUT = 30


class LambdaTimeoutBehindHttpApi(CloudFormationLintRule):
    id = "E9202"
    shortdesc = "Lambda Timeout above the HTTP API integration timeout"
    description = (
        "A Lambda function targeted by an AWS::ApiGatewayV2::Integration must not have a Timeout above 30 "
        "seconds, the maximum integration timeout of an HTTP API"
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html"
    tags = ["resources", "lambda", "apigateway", "timeouts", "deploygen"]

    def match(self, cfn):
        functions = cfn.get_resources(FUNCTION)
        owner = {name: name for name in functions}  # alias or version -> its function
        for name, res in cfn.get_resources(["AWS::Lambda::Alias", "AWS::Lambda::Version"]).items():
            found = dg.referenced(cfn, dg.properties(res).get("FunctionName")) & set(functions)
            if len(found) == 1:
                owner[name] = found.pop()
        by_name = {}
        for name, res in functions.items():
            for literal in dg.strings(dg.properties(res).get("FunctionName")):
                by_name[literal] = name
        matches = []
        for integration, res in cfn.get_resources("AWS::ApiGatewayV2::Integration").items():
            uri = dg.properties(res).get("IntegrationUri")
            behind = {owner[r] for r in dg.referenced(cfn, uri) if r in owner}
            for text in _texts(uri):
                behind |= {by_name[n] for n in re.findall(r":function:([A-Za-z0-9_-]+)", text) if n in by_name}
            for function in sorted(behind):
                for timeout in dg.ints(dg.properties(functions[function]).get("Timeout")):
                    if timeout > MAX_TIMEOUT:
                        matches.append(
                            RuleMatch(
                                ["Resources", function, "Properties", "Timeout"],
                                f"Function {function} is behind HTTP API integration {integration} but has "
                                f"Timeout {timeout}: the API gives up after {MAX_TIMEOUT} s",
                            )
                        )
        return matches


def _texts(value):
    """Every literal string inside a value (Sub templates and Join parts included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
