"""The SmartPower API's contract, checked on every answer an app gave in a test.

Every response is recorded (an outermost middleware) and checked against
``docs/api/smartpower.openapi.yaml`` when the test ends: its status is listed for the
operation, its JSON body validates against the schema listed for that status, and a 429
carries ``Retry-After``. The server's tests and the daemon's both use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_schema_validator import OAS31Validator

DOCUMENT = Path(__file__).parents[2] / "docs" / "api" / "smartpower.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = SPEC
        for part in parts:
            target = target[part]
        node = target
    return node


@dataclass
class Exchange:
    method: str
    route: str | None
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def problems(self) -> list[str]:
        found: list[str] = []
        for ex in self.exchanges:
            where = f"{ex.method} {ex.route} → {ex.status}"
            if ex.route is None or ex.route not in SPEC["paths"]:
                # unknown paths: still a structured error
                if ex.content_type != "application/json":
                    found.append(f"{where}: not a JSON error")
                else:
                    found += _validate(where, {"$ref": "#/components/schemas/Error"}, ex.body)
                continue
            operation = SPEC["paths"][ex.route].get(ex.method.lower())
            if operation is None:
                if ex.status != 405:
                    found.append(f"{where}: method not in the document")
                continue
            responses = operation["responses"]
            if str(ex.status) not in responses:
                found.append(f"{where}: status not documented for this operation")
                continue
            response = _resolve(responses[str(ex.status)])
            if ex.status == 429 and "Retry-After" not in ex.headers:
                found.append(f"{where}: no Retry-After")
            content = response.get("content")
            if not content:
                if ex.body:
                    found.append(f"{where}: a body where the document has none")
                continue
            if ex.content_type not in content:
                found.append(f"{where}: content type {ex.content_type} not documented")
                continue
            if ex.content_type == "application/json":
                found += _validate(where, content[ex.content_type]["schema"], ex.body)
        return found


def _validate(where: str, schema: dict[str, Any], body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return [f"{where}: body is not JSON"]
    validator = OAS31Validator({**schema, "components": SPEC["components"]})
    return [f"{where}: {error.message}" for error in validator.iter_errors(data)]


def recording_middleware(recorder: Recorder) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        info = request.match_info
        route = None
        if info.route.resource is not None and info.http_exception is None:
            route = info.route.resource.canonical
        body = b""
        if isinstance(response, web.Response) and response.body is not None:
            body = bytes(response.body)  # type: ignore[arg-type]
        recorder.exchanges.append(
            Exchange(
                method=request.method,
                route=route,
                status=response.status,
                content_type=response.content_type,
                body=body,
                headers=dict(response.headers),
            )
        )
        return response

    return record
