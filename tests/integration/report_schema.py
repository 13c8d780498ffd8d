#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_schema.py - a small JSON Schema validator (python3 stdlib only).

It implements the subset tests/data/report.schema.json uses and refuses any
other keyword, so the schema cannot quietly rely on something unchecked:

  type (one name or a list), const, enum, properties, required,
  additionalProperties (false or a schema), items, minItems, minimum,
  maximum, minLength, pattern, anyOf, $ref ("#/$defs/NAME"), and the
  annotations $schema, $id, title, description.

Library:  errors = validate(instance, schema)  -> list of "path: message"
CLI:      report_schema.py SCHEMA.json DOC.json   (exit 1 and the errors)
"""

import json
import re
import sys

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
KEYWORDS = {"type", "const", "enum", "properties", "required", "additionalProperties",
            "items", "minItems", "minimum", "maximum", "minLength", "pattern", "anyOf",
            "$ref"} | ANNOTATIONS


def _is_type(v, t):
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    raise ValueError("unknown type %r in the schema" % t)


def _same(a, b):
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class Validator:
    def __init__(self, schema):
        self.root = schema

    def _resolve(self, ref):
        if not ref.startswith("#/"):
            raise ValueError("only local $ref are supported: %r" % ref)
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def check(self, v, s, path, errs):
        unknown = set(s) - KEYWORDS
        if unknown:
            raise ValueError("%s: unsupported schema keywords %s" % (path, sorted(unknown)))
        if "$ref" in s:
            self.check(v, self._resolve(s["$ref"]), path, errs)
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(_is_type(v, t) for t in types):
                errs.append("%s: %r is not of type %s" % (path, v, "/".join(types)))
                return
        if "const" in s and not _same(v, s["const"]):
            errs.append("%s: %r is not %r" % (path, v, s["const"]))
        if "enum" in s and not any(_same(v, e) for e in s["enum"]):
            errs.append("%s: %r is not one of %r" % (path, v, s["enum"]))
        if "anyOf" in s:
            for sub in s["anyOf"]:
                e = []
                self.check(v, sub, path, e)
                if not e:
                    break
            else:
                errs.append("%s: %r matches none of anyOf" % (path, v))
        if _is_type(v, "number"):
            if "minimum" in s and v < s["minimum"]:
                errs.append("%s: %r < minimum %r" % (path, v, s["minimum"]))
            if "maximum" in s and v > s["maximum"]:
                errs.append("%s: %r > maximum %r" % (path, v, s["maximum"]))
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                errs.append("%s: string shorter than %d" % (path, s["minLength"]))
            if "pattern" in s and not re.search(s["pattern"], v):
                errs.append("%s: %r does not match /%s/" % (path, v, s["pattern"]))
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                errs.append("%s: fewer than %d items" % (path, s["minItems"]))
            if "items" in s:
                for i, item in enumerate(v):
                    self.check(item, s["items"], "%s[%d]" % (path, i), errs)
        if isinstance(v, dict):
            props = s.get("properties", {})
            for k in s.get("required", []):
                if k not in v:
                    errs.append("%s: missing required %r" % (path, k))
            for k, item in v.items():
                if k in props:
                    self.check(item, props[k], "%s.%s" % (path, k), errs)
                elif "additionalProperties" in s:
                    ap = s["additionalProperties"]
                    if ap is False:
                        errs.append("%s: unexpected property %r" % (path, k))
                    elif isinstance(ap, dict):
                        self.check(item, ap, "%s.%s" % (path, k), errs)


def validate(instance, schema):
    errs = []
    Validator(schema).check(instance, schema, "$", errs)
    return errs


def main(argv):
    if len(argv) != 3:
        print("usage: report_schema.py SCHEMA.json DOC.json", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        schema = json.load(f)
    with open(argv[2]) as f:
        doc = json.load(f)
    errs = validate(doc, schema)
    for e in errs:
        print(e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
