"""A quick yes-or-ask for an OCPP payload against its schema, run before the full validator.

fastjsonschema's validators (api/ocpp/validation.py) build, on the way into every field, the
path an error message would need: for a list item, a ``str.format(**locals())``. A
TransactionEvent with four sampled values cost ~65 µs of the event loop's time that way, more than
a whole Heartbeat's JSON, schema and handler work (scripts/bench_schema_check.py). The check
built here from the same schema answers only "valid" or "ask the validator", with plain
comparisons and no strings built. Valid: the payload goes on. Otherwise fastjsonschema decides, and
accepts it or names the violation exactly as it did before this check existed.

So a check may be stricter than its schema, never looser (tests/ocpp/test_schema_quick.py holds
every OCPP 2.0.1 schema to that, on generated and mutated payloads):
- an integer is a Python int, not a bool; the schema's 1.0 goes to the validator;
- a minimum or maximum that a NaN slips past in the validator sends the NaN to it;
- a date-time is checked by the validator's own function for the format (api/ocpp/date_time.py);
- a keyword this module does not know makes the whole schema's check ``None`` (the validator
  alone); the OCPP 2.0.1 schemas use none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.ocpp.date_time import is_date_time

Check = Callable[[Any], bool]

# Annotations, and what the schema's own structure holds (definitions: reached through $ref).
_IGNORED = frozenset({"$schema", "$id", "id", "comment", "description", "javaType", "default", "definitions",
                      "title", "examples"})
_KNOWN = _IGNORED | {"type", "$ref", "properties", "required", "additionalProperties", "items", "additionalItems",
                     "minItems", "maxItems", "maxLength", "minLength", "enum", "format", "minimum", "maximum"}
# The validator (api/ocpp/validation.py) checks each format with the same function.
FORMATS: dict[str, Callable[[str], bool]] = {"date-time": is_date_time}
_REF_PREFIX = "#/definitions/"


class _Unsupported(Exception):
    pass


def compile_check(schema: dict[str, Any], name: str = "payload") -> Check | None:
    """The quick check of ``schema`` (a draft-06 schema as the ocpp package ships them), or None
    when it uses a keyword or form this module does not check. ``name`` names the generated code
    in tracebacks and profiles."""
    try:
        compiler = _Compiler(schema.get("definitions", {}))
        root = compiler.function(schema)
    except _Unsupported:
        return None
    namespace: dict[str, Any] = dict(compiler.constants)
    exec(compile(compiler.source(), f"<quick check of {name}>", "exec"), namespace)  # noqa: S102 - our own code, built above
    return namespace[root]


class _Compiler:
    """Python source for one schema: a function per object or array (and per definition), its
    scalar fields checked inline by one expression each."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self._definitions = definitions
        self._functions: list[list[str]] = []
        self._by_ref: dict[str, str] = {}
        self.constants: dict[str, Any] = {}

    def source(self) -> str:
        return "\n\n".join("\n".join(lines) for lines in self._functions)

    def _constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def expression(self, schema: dict[str, Any], var: str) -> str:
        """A Python expression, true when ``var`` holds a value ``schema`` accepts."""
        if "$ref" in schema:  # draft-06: a $ref's siblings are ignored
            target = self._definition(schema["$ref"])
            if target.get("type") in ("object", "array"):
                return f"{self._ref(schema['$ref'])}({var})"
            return self.expression(target, var)  # a scalar (an enum): checked inline, no call
        unknown = schema.keys() - _KNOWN
        if unknown:
            raise _Unsupported(f"keywords {sorted(unknown)}")
        kind = schema.get("type")
        if kind in ("object", "array"):
            return f"{self.function(schema)}({var})"
        if kind == "string":
            return self._string(schema, var)
        if kind in ("integer", "number"):
            return self._number(schema, var, integer=kind == "integer")
        if kind == "boolean" and not schema.keys() & (_CONSTRAINTS - _BOOLEAN):
            return f"type({var}) is bool"
        if kind is None and not schema.keys() & _CONSTRAINTS:
            return "True"  # any value (DataTransfer's data)
        raise _Unsupported(f"type {kind!r}")

    def function(self, schema: dict[str, Any]) -> str:
        name = f"_f{len(self._functions)}"
        lines = [f"def {name}(v):"]
        self._functions.append(lines)
        kind = schema.get("type")
        if kind == "object":
            lines += self._object(schema)
        elif kind == "array":
            lines += self._array(schema)
        else:
            lines.append(f"    return {self.expression(schema, 'v')}")
        return name

    def _definition(self, ref: str) -> dict[str, Any]:
        if not ref.startswith(_REF_PREFIX) or ref[len(_REF_PREFIX):] not in self._definitions:
            raise _Unsupported(f"$ref {ref}")
        return self._definitions[ref[len(_REF_PREFIX):]]

    def _ref(self, ref: str) -> str:
        if ref not in self._by_ref:
            # Named before its body is built: a definition that refers to itself calls itself.
            self._by_ref[ref] = f"_f{len(self._functions)}"
            self.function(self._definition(ref))
        return self._by_ref[ref]

    def _object(self, schema: dict[str, Any]) -> list[str]:
        if schema.keys() & (_CONSTRAINTS - _OBJECT):
            raise _Unsupported("object with keywords of other types")
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False):
            raise _Unsupported("additionalProperties as a schema")
        properties = schema.get("properties", {})
        lines = ["    if type(v) is not dict:", "        return False", "    keys = v.keys()"]
        if extra is False:
            lines += [f"    if not keys <= {self._constant(frozenset(properties))}:", "        return False"]
        if schema.get("required"):
            lines += [f"    if not {self._constant(frozenset(schema['required']))} <= keys:", "        return False"]
        for field, sub in properties.items():
            check = self.expression(sub, "x")
            if check != "True":
                lines += [f"    if {field!r} in v:", f"        x = v[{field!r}]", f"        if not ({check}):",
                          "            return False"]
        return [*lines, "    return True"]

    def _array(self, schema: dict[str, Any]) -> list[str]:
        items = schema.get("items", {})
        if not isinstance(items, dict) or schema.keys() & (_CONSTRAINTS - _ARRAY):
            raise _Unsupported("array items as a list, or keywords of other types")
        # additionalItems only applies when items is a list of schemas: not here.
        lines = ["    if type(v) is not list:", "        return False"]
        if "minItems" in schema:
            lines += [f"    if len(v) < {int(schema['minItems'])}:", "        return False"]
        if "maxItems" in schema:
            lines += [f"    if len(v) > {int(schema['maxItems'])}:", "        return False"]
        check = self.expression(items, "x") if items else "True"
        if check != "True":
            lines += ["    for x in v:", f"        if not ({check}):", "            return False"]
        return [*lines, "    return True"]

    def _string(self, schema: dict[str, Any], var: str) -> str:
        if schema.keys() & (_CONSTRAINTS - _STRING):
            raise _Unsupported("string with keywords of other types")
        terms = [f"type({var}) is str"]
        if "minLength" in schema:
            terms.append(f"len({var}) >= {int(schema['minLength'])}")
        if "maxLength" in schema:
            terms.append(f"len({var}) <= {int(schema['maxLength'])}")
        if "enum" in schema:
            if not all(type(option) is str for option in schema["enum"]):
                raise _Unsupported("string enum with values of other types")
            terms.append(f"{var} in {self._constant(frozenset(schema['enum']))}")
        if "format" in schema:
            if schema["format"] not in FORMATS:
                raise _Unsupported(f"format {schema['format']!r}")
            terms.append(f"{self._constant(FORMATS[schema['format']])}({var})")
        return " and ".join(terms)

    def _number(self, schema: dict[str, Any], var: str, *, integer: bool) -> str:
        if schema.keys() & (_CONSTRAINTS - _NUMBER):
            raise _Unsupported("number with keywords of other types")
        # type() and not isinstance: a bool is an int to Python, not a number to JSON Schema. A
        # NaN fails any bound here (the validator may let it through: it decides).
        terms = [f"type({var}) is int" if integer else f"type({var}) in {self._constant((int, float))}"]
        for keyword, operator in (("minimum", ">="), ("maximum", "<=")):
            if keyword in schema:
                terms.append(f"{var} {operator} {self._constant(schema[keyword])}")
        return " and ".join(terms)


# Keywords that constrain a value, by the types they belong to.
_OBJECT = frozenset({"properties", "required", "additionalProperties"})
_ARRAY = frozenset({"items", "additionalItems", "minItems", "maxItems"})
_STRING = frozenset({"maxLength", "minLength", "enum", "format", "additionalProperties"})
_NUMBER = frozenset({"minimum", "maximum", "additionalProperties"})
_BOOLEAN = frozenset({"additionalProperties"})
_CONSTRAINTS = _OBJECT | _ARRAY | _STRING | _NUMBER
