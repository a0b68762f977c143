#!/usr/bin/env python3
"""Validates tether --json event lines against docs/events.schema.json.

usage: validate_events.py SCHEMA EVENTS_FILE [--require TYPE,TYPE,...]

Every non-empty line of EVENTS_FILE must be one JSON object valid under SCHEMA. With --require,
each listed event type must appear at least once. Prints one line per problem and exits 1 if there
is any; prints the event types seen and exits 0 otherwise.

The validator is hand-written (no dependency): it implements the part of JSON Schema 2020-12 the
schema uses ($ref to #/$defs, type, enum, const, pattern, minimum, required, properties,
additionalProperties: false, allOf, if/then). When the jsonschema module is installed, every
event is checked by it as well, so the two cannot drift apart.
"""
import json
import re
import sys


def resolve(root, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref is supported: " + ref)
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}

KNOWN = {"$schema", "$id", "$defs", "title", "description", "$ref", "type", "enum", "const",
         "pattern", "minimum", "required", "properties", "additionalProperties", "allOf", "if",
         "then"}


def errors(value, schema, root, path="$"):
    """The list of problems of `value` under `schema` (empty when valid)."""
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError("validator does not implement: " + ", ".join(sorted(unknown)))
    out = []
    if "$ref" in schema:
        out += errors(value, resolve(root, schema["$ref"]), root, path)
    if "type" in schema and not TYPES[schema["type"]](value):
        return out + ["%s: %r is not of type %s" % (path, value, schema["type"])]
    if "enum" in schema and value not in schema["enum"]:
        out.append("%s: %r is not one of %s" % (path, value, schema["enum"]))
    if "const" in schema and value != schema["const"]:
        out.append("%s: %r is not %r" % (path, value, schema["const"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        out.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        out.append("%s: %r is below %s" % (path, value, schema["minimum"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append("%s: required field %r is missing" % (path, key))
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                out += errors(value[key], sub, root, path + "." + key)
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in props:
                    out.append("%s: field %r is not in the schema" % (path, key))
    for sub in schema.get("allOf", []):
        out += errors(value, sub, root, path)
    if "if" in schema and not errors(value, schema["if"], root, path) and "then" in schema:
        out += errors(value, schema["then"], root, path)
    return out


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--require"):
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        schema = json.load(f)
    required = argv[4].split(",") if len(argv) == 5 else []
    try:
        import jsonschema  # optional cross-check
        checker = jsonschema.Draft202012Validator(schema)
    except ImportError:
        checker = None
    problems = []
    seen = set()
    with open(argv[2], encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as e:
                problems.append("line %d: not JSON (%s): %s" % (number, e, line.strip()))
                continue
            for p in errors(event, schema, schema):
                problems.append("line %d (%s): %s" % (number, event.get("event"), p))
            if checker is not None:
                for e in checker.iter_errors(event):
                    problems.append("line %d (%s): jsonschema: %s" % (number, event.get("event"), e.message))
            if isinstance(event, dict):
                seen.add(event.get("event"))
    for name in required:
        if name not in seen:
            problems.append("no %r event was seen" % name)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("valid; event types: " + ",".join(sorted(str(s) for s in seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
