"""/openapi.json: a valid OpenAPI 3.1 document that lists every reachable endpoint."""

import re

import pytest

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Endpoints of the contract (the test endpoints are registered with GANGLION_TEST_ENDPOINTS=1).
KNOWN = [
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), ("get", "/openapi.json"),
    ("get", "/api/v1/system/info"), ("get", "/api/v1/stream"), ("get", "/api/v1/audit"),
    ("post", "/api/v1/test/echo"), ("post", "/api/v1/test/publish"), ("get", "/api/v1/test/sleep"),
]


@pytest.fixture
def spec(daemon):
    r = daemon.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    return r.json()


def _resolve(spec, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        node = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert part in node, f"dangling $ref {ref}"
            node = node[part]
        obj = node
    return obj


def _refs(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _refs(v)


def test_openapi_document(spec):
    assert spec["openapi"] == "3.1.0"
    assert isinstance(spec["info"]["title"], str) and spec["info"]["title"]
    assert isinstance(spec["info"]["version"], str) and spec["info"]["version"]
    paths = spec["paths"]
    assert isinstance(paths, dict) and paths
    op_ids = set()
    for path, item in paths.items():
        assert path.startswith("/"), path
        ops = {m: op for m, op in item.items() if m in METHODS}
        assert ops, f"{path} has no operations"
        templated = set(re.findall(r"\{([^}/]+)\}", path))
        for m, op in ops.items():
            responses = op.get("responses")
            assert isinstance(responses, dict) and responses, f"{m} {path} has no responses"
            for code, resp in responses.items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", str(code)), (path, code)
                assert "description" in _resolve(spec, resp), (path, code)
            if "operationId" in op:
                assert op["operationId"] not in op_ids, f"duplicate operationId {op['operationId']}"
                op_ids.add(op["operationId"])
            params = [_resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
            for p in params:
                assert p.get("in") in ("path", "query", "header", "cookie"), p
                assert isinstance(p.get("name"), str) and p["name"], p
                assert "schema" in p or "content" in p, p
                if p["in"] == "path":
                    assert p.get("required") is True, f"path parameter not required: {p}"
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == templated, f"{m} {path}: path params {declared} vs template {templated}"
            if "requestBody" in op:
                rb = _resolve(spec, op["requestBody"])
                assert isinstance(rb.get("content"), dict) and rb["content"], (m, path)
    for ref in set(_refs(spec)):
        _resolve(spec, {"$ref": ref})


def test_problem_schema(spec):
    schemas = spec["components"]["schemas"]
    problem = next((v for k, v in schemas.items() if "problem" in k.lower()), None)
    assert problem is not None, f"no problem schema in components.schemas: {list(schemas)}"
    props = _resolve(spec, problem).get("properties", {})
    for k in ("type", "title", "status", "detail", "errors"):
        assert k in props, f"problem schema lacks {k}"
    # error responses refer to it
    refs = [r for r in _refs(spec["paths"]) if "problem" in r.lower()]
    assert refs, "no operation refers to the problem schema"


def test_lists_every_known_endpoint(spec):
    for method, path in KNOWN:
        assert path in spec["paths"], f"{path} missing from /openapi.json"
        assert method in spec["paths"][path], f"{method.upper()} {path} missing from /openapi.json"


def test_echo_body_schema_documented(spec):
    op = spec["paths"]["/api/v1/test/echo"]["post"]
    content = _resolve(spec, op["requestBody"])["content"]
    assert "application/json" in content
    schema = _resolve(spec, content["application/json"]["schema"])
    assert schema.get("type") == "object"
    assert "name" in schema.get("required", [])
    props = schema["properties"]
    name = _resolve(spec, props["name"])
    assert name.get("type") == "string" and name.get("minLength") == 1 and name.get("maxLength") == 64
    count = _resolve(spec, props["count"])
    assert count.get("type") == "integer" and count.get("minimum") == 0 and count.get("maximum") == 100
    assert sorted(_resolve(spec, props["mode"]).get("enum", [])) == ["a", "b"]


def test_every_documented_endpoint_is_reachable(daemon, spec):
    """The reverse direction: what the document lists is served (never 404/405)."""
    for path, item in spec["paths"].items():
        concrete = re.sub(r"\{[^}/]+\}", "1", path)
        for m in item:
            if m not in METHODS:
                continue
            if path == "/api/v1/stream":
                with daemon.http.get(daemon.url + concrete + "?topics=x", stream=True, timeout=5) as r:
                    assert r.status_code == 200
                continue
            kw = {}
            if m in ("post", "put", "patch"):
                kw["json"] = {}
            if path == "/api/v1/test/sleep":
                concrete_q = concrete + "?ms=0"
            else:
                concrete_q = concrete
            r = daemon.request(m.upper(), concrete_q, **kw)
            assert r.status_code not in (404, 405) or "{" in path, f"{m.upper()} {path}: {r.status_code}"
            assert r.status_code < 500, f"{m.upper()} {path}: {r.status_code} {r.text[:300]}"
