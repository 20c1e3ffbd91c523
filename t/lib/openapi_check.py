#!/usr/bin/python3
"""Check docs/openapi.json and validate recorded API answers against it (t/api/990_openapi.t).

    openapi_check.py DOCUMENT [ANSWERS.jsonl]

Prints one JSON object: "structure" (problems with the document as an OpenAPI 3.1 document:
the fields the specification requires, path templates and their parameters, references,
security schemes, and every schema checked against JSON Schema 2020-12's meta-schema),
"operations" (METHOD /path), and, with a record of answers (t/lib/DocPortal/Record.pm),
"answers" (how many), "validated", "skipped" (by reason), "failures" (answers that do not
match the document), "undeclared" (error statuses an operation answered without declaring
them; they validate against its default response) and "coverage" (per operation, the
statuses answered and how often).

Runs with Debian's python3 and python3-jsonschema (4.10 in Debian 12: Draft 2020-12, the
dialect of OpenAPI 3.1 schemas). There is no copy of the OpenAPI 3.1 schema in Debian 12, so
the structure is checked here, to the degree the specification says."""
import json
import re
import sys
import urllib.parse

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PATH_ITEM_KEYS = set(METHODS) | {"$ref", "summary", "description", "servers", "parameters"}
PARAM_IN = ("query", "header", "path", "cookie")
STATUS_KEY = re.compile(r"^(default|[1-5][0-9][0-9]|[1-5]XX)$")
MAX_FAILURES = 50


def pointer_get(doc, pointer):
    """The value at a local reference ("#/a/b"), or KeyError."""
    node = doc
    for part in pointer[2:].split("/") if pointer != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def walk(node, where, visit):
    visit(node, where)
    if isinstance(node, dict):
        for k, v in node.items():
            walk(v, where + "/" + escape(k), visit)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, where + "/" + str(i), visit)


def structure(doc):
    problems = []
    add = problems.append
    if not isinstance(doc.get("openapi"), str) or not re.match(r"^3\.1\.\d+$", doc["openapi"]):
        add("openapi must be a 3.1.x version string")
    info = doc.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("title"), str) \
            or not isinstance(info.get("version"), str):
        add("info needs a title and a version (strings)")
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        add("paths must be a non-empty object")
        paths = {}
    components = doc.get("components", {})
    schemes = components.get("securitySchemes", {})
    for name, s in schemes.items():
        t = s.get("type")
        if t not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
            add(f"securityScheme {name}: unknown type {t!r}")
        if t == "apiKey" and (s.get("in") not in ("query", "header", "cookie") or not s.get("name")):
            add(f"securityScheme {name}: apiKey needs name and in (query, header, cookie)")
        if t == "http" and not s.get("scheme"):
            add(f"securityScheme {name}: http needs a scheme")
    declared_tags = {t.get("name") for t in doc.get("tags", [])}
    op_ids = {}
    for path, item in paths.items():
        if not path.startswith("/"):
            add(f"path {path}: must start with /")
        if not isinstance(item, dict):
            add(f"path {path}: not an object")
            continue
        for k in item:
            if k not in PATH_ITEM_KEYS and not k.startswith("x-"):
                add(f"path {path}: unknown field {k}")
        template = set(re.findall(r"\{([^}/]+)\}", path))
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            where = f"{method.upper()} {path}"
            oid = op.get("operationId")
            if oid is not None:
                if oid in op_ids:
                    add(f"{where}: operationId {oid} also used by {op_ids[oid]}")
                op_ids[oid] = where
            for t in op.get("tags", []):
                if t not in declared_tags:
                    add(f"{where}: tag {t} is not declared")
            params = list(item.get("parameters", [])) + list(op.get("parameters", []))
            in_path = set()
            seen = set()
            for p in params:
                if "$ref" in p:
                    p = pointer_get(doc, p["$ref"])
                if not p.get("name") or p.get("in") not in PARAM_IN:
                    add(f"{where}: a parameter needs name and in (query, header, path, cookie)")
                    continue
                if (p["name"], p["in"]) in seen:
                    add(f"{where}: parameter {p['name']} ({p['in']}) given twice")
                seen.add((p["name"], p["in"]))
                if ("schema" in p) == ("content" in p):
                    add(f"{where}: parameter {p['name']} needs schema or content (one of them)")
                if p["in"] == "path":
                    in_path.add(p["name"])
                    if p.get("required") is not True:
                        add(f"{where}: path parameter {p['name']} must be required")
            if in_path != template:
                add(f"{where}: path parameters {sorted(in_path)} do not match the template {sorted(template)}")
            rb = op.get("requestBody")
            if rb is not None and not isinstance(rb.get("content"), dict):
                add(f"{where}: requestBody needs content")
            responses = op.get("responses")
            if not isinstance(responses, dict) or not responses:
                add(f"{where}: responses must be a non-empty object")
                continue
            for status, r in responses.items():
                if not STATUS_KEY.match(status):
                    add(f"{where}: response key {status} is not a status code, nXX or default")
                if "$ref" in r:
                    try:
                        r = pointer_get(doc, r["$ref"])
                    except (KeyError, IndexError, ValueError):
                        continue  # reported with every other reference below
                if not isinstance(r.get("description"), str):
                    add(f"{where}: response {status} needs a description")
                for media, mt in r.get("content", {}).items():
                    if "/" not in media:
                        add(f"{where}: response {status}: {media} is not a media type")
                    if not isinstance(mt, dict) or "schema" not in mt:
                        add(f"{where}: response {status} {media} has no schema")
            for req in op.get("security", []):
                for name in req:
                    if name not in schemes:
                        add(f"{where}: security scheme {name} is not declared")

    def check_ref(node, where):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#"):
                add(f"{where}: only local references are expected ({ref})")
                return
            try:
                pointer_get(doc, ref)
            except (KeyError, IndexError, ValueError):
                add(f"{where}: reference {ref} does not resolve")
    walk(doc, "#", check_ref)

    def schemas_in(node, where, out):
        """Every Schema Object of the document (components, parameters, media types)."""
        if isinstance(node, dict):
            for k, v in node.items():
                w = where + "/" + escape(k)
                if k == "schema" and isinstance(v, dict):
                    out.append((w, v))
                else:
                    schemas_in(v, w, out)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                schemas_in(v, where + "/" + str(i), out)
    found = [(f"#/components/schemas/{escape(n)}", s)
             for n, s in components.get("schemas", {}).items()]
    schemas_in(paths, "#/paths", found)
    schemas_in({k: v for k, v in components.items() if k != "schemas"}, "#/components", found)
    for where, s in found:
        try:
            Draft202012Validator.check_schema(s)
        except jsonschema.exceptions.SchemaError as e:
            add(f"{where}: not a JSON Schema 2020-12 schema: {e.message}")
    return problems


class Document:
    def __init__(self, doc):
        self.doc = doc
        self.routes = []
        for path, item in doc.get("paths", {}).items():
            rx = "^" + "/".join("[^/]+" if re.match(r"^\{[^}]+\}$", s) else re.escape(s)
                                for s in path.split("/")) + "$"
            literal = sum(1 for s in path.split("/") if s and not s.startswith("{"))
            self.routes.append((re.compile(rx), literal, path, item))
        self.routes.sort(key=lambda r: -r[1])  # literal segments win over parameters
        self.validators = {}

    def match(self, path):
        for rx, _, template, item in self.routes:
            if rx.match(path):
                return template, item
        return None, None

    def validator(self, pointer):
        v = self.validators.get(pointer)
        if v is None:
            # the whole document as the root, so that its #/components/... references resolve
            root = dict(self.doc)
            root["$ref"] = pointer
            v = self.validators[pointer] = Draft202012Validator(root, format_checker=FormatChecker())
        return v

    def response(self, op, status):
        """(pointer of the response object, the object, declared explicitly?) or Nones."""
        responses = op.get("responses", {})
        for key, explicit in ((str(status), True), (f"{status // 100}XX", True), ("default", False)):
            if key in responses:
                r = responses[key]
                pointer = None
                while "$ref" in r:
                    pointer = r["$ref"]
                    r = pointer_get(self.doc, pointer)
                return pointer, r, explicit, key
        return None, None, False, None


def errors_of(validator, instance):
    out = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        out.append(f"{where}: {e.message}"[:300])
        if len(out) == 5:
            break
    return out


def answers(d, records):
    report = {"answers": 0, "validated": 0, "skipped": {}, "failures": [], "failure_count": 0,
              "undeclared": {}, "coverage": {}}
    for path, item in d.doc.get("paths", {}).items():
        for m in METHODS:
            if m in item:
                report["coverage"][f"{m.upper()} {path}"] = {}

    def skip(why):
        report["skipped"][why] = report["skipped"].get(why, 0) + 1

    for rec in records:
        report["answers"] += 1
        if rec.get("internal"):
            skip("no HTTP answer (LWP's own)")
            continue
        method = rec["method"].upper()
        raw_path = rec["path"].split("?", 1)[0]
        path = urllib.parse.unquote(raw_path)
        status = int(rec["status"])
        if not path.startswith("/api"):
            skip("not under /api")
            continue
        base = rec.get("ctype", "").split(";", 1)[0].strip().lower()
        problems = []
        template, item = d.match(path)
        op = None
        name = None
        if item is not None:
            op = item.get("get" if method == "HEAD" else method.lower())
            name = f"{'GET' if method == 'HEAD' else method} {template}"
        if method == "OPTIONS" and item is not None:
            skip("OPTIONS on a known path (the dispatcher's, not an operation)")
            continue
        if op is None:
            # the dispatcher's 404 (no such path) or 405 (another method): the error shape
            pointer = "#/components/schemas/Error"
            if status not in (404, 405):
                problems.append(f"status {status} for a path and method no operation has")
            if base != "application/json":
                problems.append(f"content type {rec.get('ctype')!r}, expected application/json")
            elif method != "HEAD":
                problems += check_json(d, pointer, rec)
            finish(report, rec, name or "(no operation)", problems)
            continue
        cov = report["coverage"][name]
        cov[str(status)] = cov.get(str(status), 0) + 1
        rpointer, resp, explicit, key = d.response(op, status)
        if resp is None:
            finish(report, rec, name, [f"status {status} is not in the operation's responses"])
            continue
        if not explicit:
            if 200 <= status < 300:
                problems.append(f"success status {status} is not declared")
            else:
                u = report["undeclared"].setdefault(name, {})
                u[str(status)] = u.get(str(status), 0) + 1
        content = resp.get("content", {})
        empty = rec.get("length", 0) == 0
        if not content:
            if not empty and method != "HEAD":
                problems.append(f"response {key} declares no body, the answer has {rec.get('length')} bytes")
        elif base not in content:
            if not (empty and (method == "HEAD" or status == 304)):
                problems.append(f"content type {rec.get('ctype')!r} is not one of {sorted(content)}")
        elif method == "HEAD":
            pass
        elif empty:
            problems.append(f"response {key} has a body ({base}); the answer is empty")
        elif base == "application/json" or base.endswith("+json"):
            if rec.get("truncated"):
                skip("body too large to keep")
                continue
            if rpointer is None:
                rpointer = "#/paths/" + escape(template) + "/" + ("get" if method == "HEAD" else method.lower()) \
                           + "/responses/" + escape(key)
            problems += check_json(d, rpointer + "/content/" + escape(base) + "/schema", rec)
        finish(report, rec, name, problems)
    return report


def check_json(d, pointer, rec):
    body = rec.get("body")
    if body is None:
        return ["a JSON answer without its body in the record"]
    try:
        value = json.loads(body)
    except ValueError as e:
        return [f"the body is not JSON: {e}"]
    return errors_of(d.validator(pointer), value)


def finish(report, rec, name, problems):
    if not problems:
        report["validated"] += 1
        return
    report["failure_count"] += 1
    if len(report["failures"]) < MAX_FAILURES:
        report["failures"].append({"operation": name, "file": rec.get("file"),
                                   "method": rec["method"], "path": rec["path"],
                                   "status": rec["status"], "problems": problems,
                                   "body": (rec.get("body") or "")[:600]})


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    out = {"structure": structure(doc)}
    d = Document(doc)
    out["operations"] = sorted(f"{m.upper()} {p}" for p, item in doc.get("paths", {}).items()
                               for m in METHODS if m in item)
    if len(sys.argv) > 2:
        records = []
        try:
            with open(sys.argv[2], encoding="utf-8") as f:
                for line in f:
                    records.append(json.loads(line))
        except FileNotFoundError:
            pass
        out.update(answers(d, records))
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
