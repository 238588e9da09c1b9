"""What deploygen's cfn-lint rules share: reading values through intrinsic functions.

No rule classes live here. cfn-lint's directory loader skips this file (it
imports only files whose names start with a letter or 1-9, and loading it
anyway finds no rule). Each rule file imports it: relatively inside the
generator.rules package, from beside itself when cfn-lint loads the file alone.

The rules report only what they can prove from literals: a value behind a Ref
to a parameter, an import or any other function they cannot evaluate is
"unknown", and unknown never produces a finding. Fn::If is read as both of
its branches (each can be deployed), and {"Ref": "AWS::NoValue"} as absent.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

NO_VALUE = {"Ref": "AWS::NoValue"}
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def properties(resource: Any) -> dict:
    """A resource's Properties, or {} when they are missing or not a mapping."""
    props = resource.get("Properties") if isinstance(resource, dict) else None
    return props if isinstance(props, dict) else {}


def is_function(value: Any) -> bool:
    """True for {"Ref": ...}, {"Condition": ...} and {"Fn::...": ...}: a one-key mapping naming a function."""
    if not (isinstance(value, dict) and len(value) == 1):
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value == NO_VALUE


def branches(value: Any) -> list:
    """The values `value` can take once Fn::If is decided, AWS::NoValue dropped (nested ifs too)."""
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            return branches(args[1]) + branches(args[2])
        return []
    return [] if is_no_value(value) else [value]


def may_be_absent(value: Any) -> bool:
    """True when a Fn::If can make the property AWS::NoValue (so it may not be set at all)."""
    if is_no_value(value):
        return True
    if isinstance(value, dict) and len(value) == 1 and "Fn::If" in value:
        args = value["Fn::If"]
        return not (isinstance(args, list) and len(args) == 3) or any(may_be_absent(a) for a in args[1:])
    return False


def literals(value: Any) -> list:
    """The literal (function-free at the top) values `value` can take; [] when none is known."""
    return [v for v in branches(value) if not is_function(v)]


def as_int(value: Any) -> int | None:
    """An int from a literal int or a numeric string ("30"); None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def ints(value: Any) -> list[int]:
    """The literal integers `value` can take (through Fn::If)."""
    return [n for n in (as_int(v) for v in literals(value)) if n is not None]


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_list(value: Any) -> list:
    """A literal list as is, a single value as a one-item list, anything unknown as []."""
    if isinstance(value, list):
        return value
    return [] if value is None or is_function(value) else [value]


def strings(value: Any) -> list[str]:
    """The literal strings `value` can take (through Fn::If and lists of strings)."""
    found: list[str] = []
    for v in literals(value):
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, list):
            found.extend(s for item in v for s in strings(item))
    return found


def sub_parts(value: Any) -> tuple[str, dict] | None:
    """(template string, variable map) of a Fn::Sub, or None when `value` is not one."""
    if not (isinstance(value, dict) and len(value) == 1 and "Fn::Sub" in value):
        return None
    args = value["Fn::Sub"]
    if isinstance(args, str):
        return args, {}
    if isinstance(args, list) and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], dict):
        return args[0], args[1]
    return None


def resource_names(cfn: Any) -> set[str]:
    resources = cfn.template.get("Resources", {})
    return set(resources) if isinstance(resources, dict) else set()


def parameter_names(cfn: Any) -> set[str]:
    parameters = cfn.template.get("Parameters")
    return set(parameters) if isinstance(parameters, dict) else set()


def referenced(cfn: Any, value: Any) -> set[str]:
    """Logical ids of the resources `value` names through Ref, Fn::GetAtt or Fn::Sub, at any depth."""
    names = resource_names(cfn)
    found: set[str] = set()
    for kind, target in _references(value):
        if kind == "Sub-var":
            target = target.split(".")[0]
        if target in names:
            found.add(target)
    return found


def _references(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        if len(value) == 1 and "Ref" in value and isinstance(value["Ref"], str):
            yield "Ref", value["Ref"]
            return
        if len(value) == 1 and "Fn::GetAtt" in value:
            args = value["Fn::GetAtt"]
            if isinstance(args, list) and args and isinstance(args[0], str):
                yield "GetAtt", args[0]
            elif isinstance(args, str):
                yield "GetAtt", args.split(".")[0]
            return
        sub = sub_parts(value)
        if sub is not None:
            template, variables = sub
            for name in SUB_VARIABLE.findall(template):
                if name not in variables:
                    yield "Sub-var", name
            yield from _references(list(variables.values()))
            return
        for item in value.values():
            yield from _references(item)


def reaches(cfn: Any, source: str, target: str) -> bool | None:
    """Whether `source` is created after `target`: a path of DependsOn, Ref, GetAtt or Sub edges.

    None when cfn-lint could not build the template's dependency graph (then a
    rule must not report).
    """
    graph = getattr(getattr(cfn, "graph", None), "graph", None)
    if graph is None or source not in graph or target not in graph:
        return None
    import networkx  # cfn-lint's own dependency

    return networkx.has_path(graph, source, target)


def resource_type(cfn: Any, name: str) -> str | None:
    resources = cfn.template.get("Resources")
    resource = resources.get(name) if isinstance(resources, dict) else None
    kind = resource.get("Type") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) else None


def json_document(value: Any) -> Any:
    """A policy document given as a JSON string, parsed; any other value as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


# --- names and ARNs written as text ------------------------------------------------


def as_template(value: Any) -> tuple[str, dict] | None:
    """A string expression as a Fn::Sub template and its variables.

    A literal string, a Fn::Sub, or a Fn::Join of literals, Refs and GetAtts
    (written ${Name} and ${Name.Attribute}); None for anything else.
    """
    if isinstance(value, str):
        return value, {}
    sub = sub_parts(value)
    if sub is not None:
        return sub
    if isinstance(value, dict) and len(value) == 1 and "Fn::Join" in value:
        args = value["Fn::Join"]
        if not (isinstance(args, list) and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], list)):
            return None
        parts = []
        for part in args[1]:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("Ref"), str) and len(part) == 1:
                parts.append("${%s}" % part["Ref"])
            elif isinstance(part, dict) and len(part) == 1 and "Fn::GetAtt" in part:
                target = part["Fn::GetAtt"]
                if isinstance(target, list) and all(isinstance(t, str) for t in target):
                    target = ".".join(target)
                if not isinstance(target, str):
                    return None
                parts.append("${%s}" % target)
            else:
                return None
        return args[0].join(parts), {}
    return None


def variable_key(cfn: Any, name: str, variables: dict) -> tuple[str, str] | None:
    """What a ${name} in a Sub template stands for: ("literal", text), ("param", id) or ("resource", id)."""
    if name in variables:
        value = variables[name]
        if isinstance(value, str):
            return "literal", value
        return name_key(cfn, value)
    head = name.split(".")[0]
    if head in resource_names(cfn):
        return "resource", head
    if "." not in name and name in parameter_names(cfn):
        return "param", name
    return None


def name_key(cfn: Any, value: Any) -> tuple[str, str] | None:
    """How a name property is given: ("literal", text), ("param", id), ("resource", id) or None (unknown)."""
    if isinstance(value, str):
        return "literal", value
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Ref"), str):
        target = value["Ref"]
        if target in resource_names(cfn):
            return "resource", target
        if target in parameter_names(cfn):
            return "param", target
        return None
    if isinstance(value, dict) and len(value) == 1 and "Fn::GetAtt" in value:
        found = referenced(cfn, value)
        return ("resource", found.pop()) if len(found) == 1 else None
    template = as_template(value)
    if template is not None:
        if "${" not in template[0]:
            return "literal", template[0]
        match = re.fullmatch(r"\$\{([^}]+)\}", template[0])
        if match:
            return variable_key(cfn, match.group(1), template[1])
    return None


def sagemaker_variant(cfn: Any, resource_id: Any) -> tuple[tuple[str, str] | None, str | None] | None:
    """(endpoint, variant) a SageMaker scalable target's ResourceId names, or None when it cannot be read.

    The endpoint is a name_key() (None: unknown); the variant is its literal name (None: unknown).
    """
    template = as_template(resource_id)
    if template is None:
        return None
    text, variables = template
    match = re.fullmatch(r"endpoint/([^/]+)/variant/([^/]+)", text)
    if not match:
        return None
    endpoint, variant = match.groups()
    if "${" not in endpoint:
        key = ("literal", endpoint)
    else:
        whole = re.fullmatch(r"\$\{([^}]+)\}", endpoint)
        key = variable_key(cfn, whole.group(1), variables) if whole else None
    return key, (variant if "${" not in variant else None)


def endpoint_keys(cfn: Any, logical_id: str, resource: Any) -> set:
    """Every name_key() by which a text can name this AWS::SageMaker::Endpoint."""
    keys = {("resource", logical_id), name_key(cfn, properties(resource).get("EndpointName"))}
    keys.discard(None)
    return keys
