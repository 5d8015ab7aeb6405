"""The OpenAPI document is valid OpenAPI 3.1, and every example in it is accepted by the model
(the document and the code describe one API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_strategies import MODEL_STRATEGIES
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from hardware_bridge import api
from hardware_bridge.api import Batch, SseParser, decode_batch, decode_event, encode_batch

DOCUMENT = Path(__file__).parents[3] / "docs" / "api" / "smartpower.openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))

# Schemas of the document → the model type that reads them (the names agree except these).
MODEL_FOR_SCHEMA = {"Error": api.ErrorBody}
NO_MODEL = {"AuthCodeRenewal"}  # one string member; the client sends it as a dict


def _examples() -> Iterator[tuple[str, str, str, Any]]:
    """(where, media type, schema name, example value) for every example in the document."""

    def walk(node: Any, where: str) -> Iterator[tuple[str, str, str, Any]]:
        if isinstance(node, dict):
            content = node.get("content")
            if isinstance(content, dict):
                for media, body in content.items():
                    schema = body.get("schema", {})
                    name = schema.get("$ref", "").rsplit("/", 1)[-1]
                    for label, example in body.get("examples", {}).items():
                        yield f"{where} {media} {label}", media, name, example["value"]
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")

    yield from walk(SPEC["paths"], "")
    yield from walk(SPEC["components"]["responses"], "components")


EXAMPLES = list(_examples())


def test_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1")
    validate(SPEC)


def test_every_operation_has_examples_and_lists_its_errors() -> None:
    for path, item in SPEC["paths"].items():
        assert path.startswith("/api/v1/")
        for method, operation in item.items():
            if method == "parameters":
                continue
            for body in operation.get("requestBody", {}).get("content", {}).values():
                assert body.get("examples"), f"{method} {path}: request without an example"
            for status, response in operation["responses"].items():
                if "$ref" in response or status == "204":
                    continue
                for body in response.get("content", {}).values():
                    assert body.get("examples"), f"{method} {path} {status}: no example"
            statuses = set(operation["responses"])
            if operation.get("security", SPEC["security"]):
                assert "401" in statuses, f"{method} {path}: 401 not listed"


def test_fixed_points_of_the_contract() -> None:
    paths = SPEC["paths"]
    claim = paths["/api/v1/claims"]["post"]
    assert claim["security"] == []
    assert (
        claim["responses"]["401"]["content"]["application/json"]["examples"]["invalid_auth_code"][
            "value"
        ]["code"]
        == "invalid_auth_code"
    )
    limited = SPEC["components"]["responses"]["RateLimited"]
    assert "Retry-After" in limited["headers"]
    assert claim["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}
    for path in (
        "",
        "/latest",
        "/history",
        "/commands",
        "/events",
        "/batches",
        "/pending-commands",
    ):
        assert f"/api/v1/modems/{{modem_no}}{path}" in paths
    history = {p["name"] for p in paths["/api/v1/modems/{modem_no}/history"]["get"]["parameters"]}
    assert {"start", "end", "cursor"} <= history


@pytest.mark.parametrize(
    ("where", "media", "schema", "value"), EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_example_is_accepted_by_the_model(where: str, media: str, schema: str, value: Any) -> None:
    if media == "text/event-stream":
        parser = SseParser()
        events = parser.feed(value.encode())
        assert [e.event for e in events] == ["reading", "alarm", "command"]
        assert events[-1].id == "18233"
        assert parser.retry == 5000
        for event in events:
            assert decode_event(event) is not None
        return
    assert media == "application/json"
    if schema in NO_MODEL:
        return
    model = MODEL_FOR_SCHEMA.get(schema) or getattr(api, schema)
    parsed = model.from_json(json.loads(json.dumps(value)))
    if model is Batch:
        assert decode_batch(encode_batch(parsed)) == parsed
    else:
        assert model.from_json(json.loads(json.dumps(parsed.to_json()))) == parsed


def test_every_model_schema_has_an_example() -> None:
    named = {schema for _, _, schema, _ in EXAMPLES}
    for schema in (
        "Claim",
        "ClaimRequest",
        "TerminalDescription",
        "ReadingsPage",
        "Command",
        "CommandRequest",
        "CommandOutcome",
        "Enrolment",
        "EnrolmentAck",
        "Batch",
        "BatchAck",
        "PendingCommands",
        "Error",
    ):
        assert schema in named


def _schema_validator(name: str) -> OAS31Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    return OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)


@pytest.mark.parametrize(
    ("where", "media", "schema", "value"),
    [e for e in EXAMPLES if e[1] == "application/json"],
    ids=[e[0] for e in EXAMPLES if e[1] == "application/json"],
)
def test_example_matches_the_documents_schema(
    where: str, media: str, schema: str, value: Any
) -> None:
    errors = [error.message for error in _schema_validator(schema).iter_errors(value)]
    assert errors == []


@pytest.mark.parametrize(
    "document", [s for s in MODEL_STRATEGIES if s is not api.Batch], ids=lambda m: m.__name__
)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_what_the_model_writes_matches_the_documents_schema(
    document: type[Any], data: st.DataObject
) -> None:
    """Model and document agree: every member the model writes is one the schema describes,
    and every document the model writes is valid against it."""
    name = next((k for k, v in MODEL_FOR_SCHEMA.items() if v is document), document.__name__)
    properties = set(SPEC["components"]["schemas"][name]["properties"])
    value = data.draw(MODEL_STRATEGIES[document]).to_json()
    assert set(value) == properties
    errors = [error.message for error in _schema_validator(name).iter_errors(value)]
    assert errors == []


@settings(max_examples=40, deadline=None)
@given(batch=MODEL_STRATEGIES[api.Batch])
def test_batch_bodies_match_the_documents_schema(batch: api.Batch) -> None:
    errors = [e.message for e in _schema_validator("Batch").iter_errors(batch.to_json())]
    assert errors == []
