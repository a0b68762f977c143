#!/usr/bin/env python3
"""Validates JSON lines against a JSON Schema subset (python3's stdlib has no jsonschema).

Supported keywords: type (one or a list), enum, required, properties, additionalProperties (false),
items, minItems, maxItems, minimum, maximum. Any other keyword in the schema is an error, so the
schema cannot silently ask for a check this validator does not make.
usage: validate_schema.py SCHEMA FILE   (FILE: one JSON document per line)
Exit 0 when every line is valid; 1 with one line per problem otherwise.
"""
import json
import sys

KNOWN = {"$schema", "title", "type", "enum", "required", "properties", "additionalProperties", "items",
         "minItems", "maxItems", "minimum", "maximum"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def check(schema, value, path, errors):
    unknown = set(schema) - KNOWN
    if unknown:
        raise SystemExit(f"schema at {path} uses unsupported keywords {sorted(unknown)}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            errors.append(f"{path}: {value!r} is not of type {types}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing '{key}'")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                check(props[key], item, f"{path}.{key}", errors)
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}: unexpected '{key}'")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        for i, item in enumerate(value):
            if "items" in schema:
                check(schema["items"], item, f"{path}[{i}]", errors)
    if TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")


def main():
    schema = json.load(open(sys.argv[1]))
    errors = []
    lines = [l for l in open(sys.argv[2]).read().splitlines() if l.strip()]
    if not lines:
        errors.append("no JSON document")
    for n, line in enumerate(lines, 1):
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: not JSON: {e}")
            continue
        check(schema, doc, f"line {n}", errors)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
