"""Offline checks of what hassfest and HACS check online, and a few of our own.

    python scripts/lint.py [REPO]      exit 0 if clean, 1 with one line per problem

Checks: manifest.json keys (required ones; order domain, name, then alphabetical), hacs.json
schema, strings.json == translations/en.json and every translation with exactly its keys,
services.yaml vs the actions the code registers (and their strings), blueprints' schema,
quality_scale.yaml (every rule of the Integration Quality Scale, status done/todo/exempt, a
comment for todo and exempt).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["QUALITY_SCALE_RULES", "lint"]

DOMAIN = "smartpower_terminal"

MANIFEST_REQUIRED = (
    "domain",
    "name",
    "codeowners",
    "config_flow",
    "documentation",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "requirements",
    "version",
)
IOT_CLASSES = {
    "assumed_state",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
    "calculated",
}
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
HACS_KEYS = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": (str, list),
    "homeassistant": str,
    "hacs": str,
    "persistent_directory": str,
    "render_readme": bool,
}
HA_VERSION = re.compile(r"\d{4}\.\d{1,2}\.\d+(b\d+)?")

# The Integration Quality Scale (developers.home-assistant.io/docs/core/integration-quality-scale).
QUALITY_SCALE_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow-test-coverage",
        "config-flow",
        "dependency-transparency",
        "docs-actions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery-update-info",
        "discovery",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}
QUALITY_STATUSES = {"done", "todo", "exempt"}


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads HA's tags (!input, !secret, …) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))  # type: ignore[no-untyped-call]


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- checks --------------------------------------------------------------------------------
def check_manifest(integration: Path) -> Iterator[str]:
    path = integration / "manifest.json"
    manifest = _load_json(path)
    keys = list(manifest)
    for key in MANIFEST_REQUIRED:
        if key not in manifest:
            yield f"{path}: missing key '{key}'"
    expected = [k for k in ("domain", "name") if k in manifest]
    expected += sorted(k for k in keys if k not in ("domain", "name"))
    if keys != expected:
        yield f"{path}: keys must be ordered domain, name, then alphabetically: {expected}"
    if manifest.get("domain") != integration.name:
        yield f"{path}: domain '{manifest.get('domain')}' differs from the folder name"
    if "iot_class" in manifest and manifest["iot_class"] not in IOT_CLASSES:
        yield f"{path}: unknown iot_class '{manifest['iot_class']}'"
    if manifest.get("integration_type", "hub") not in INTEGRATION_TYPES:
        yield f"{path}: unknown integration_type '{manifest['integration_type']}'"
    if not isinstance(manifest.get("codeowners", []), list):
        yield f"{path}: codeowners must be a list"


def check_hacs(repo: Path) -> Iterator[str]:
    path = repo / "hacs.json"
    if not path.exists():
        yield f"{path}: missing"
        return
    data = _load_json(path)
    if not isinstance(data, dict):
        yield f"{path}: must be an object"
        return
    for key, value in data.items():
        if key not in HACS_KEYS:
            yield f"{path}: unknown key '{key}'"
        elif not isinstance(value, HACS_KEYS[key]):
            yield f"{path}: '{key}' has the wrong type ({type(value).__name__})"
    if not isinstance(data.get("name"), str) or not data.get("name"):
        yield f"{path}: 'name' is required"
    version = data.get("homeassistant")
    if not isinstance(version, str) or not HA_VERSION.fullmatch(version):
        yield f"{path}: 'homeassistant' must be a version string like \"2025.4.0\""
    if "render_readme" not in data:
        yield f"{path}: 'render_readme' is required (the README is the documentation)"


def _paths(tree: Any, prefix: str = "") -> set[str]:
    if isinstance(tree, Mapping):
        found: set[str] = set()
        for key, value in tree.items():
            found |= _paths(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    return {prefix}


def check_translations(integration: Path) -> Iterator[str]:
    strings_path = integration / "strings.json"
    strings = _load_json(strings_path)
    english_path = integration / "translations" / "en.json"
    if not english_path.exists():
        yield f"{english_path}: missing"
    elif _load_json(english_path) != strings:
        yield f"{english_path}: differs from strings.json (they must be identical)"
    keys = _paths(strings)
    for path in sorted((integration / "translations").glob("*.json")):
        if path.name == "en.json":
            continue
        other = _paths(_load_json(path))
        for missing in sorted(keys - other):
            yield f"{path}: missing key {missing}"
        for extra in sorted(other - keys):
            yield f"{path}: key {extra} is not in strings.json"


def _constants(integration: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for path in integration.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets = [node.target]
            value = getattr(node, "value", None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                for target in targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = value.value
    return names


def registered_actions(integration: Path) -> set[str]:
    """Action names passed to ``hass.services.async_register(DOMAIN, NAME, …)`` (and
    ``async_register_entity_service(NAME, …)``), constants resolved."""
    constants = _constants(integration)
    found: set[str] = set()
    for path in integration.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr == "async_register" and len(node.args) >= 2:
                name_node = node.args[1]
            elif node.func.attr == "async_register_entity_service" and node.args:
                name_node = node.args[0]
            else:
                continue
            if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                found.add(name_node.value)
            elif isinstance(name_node, ast.Name) and name_node.id in constants:
                found.add(constants[name_node.id])
            else:
                found.add(f"<unresolved {ast.unparse(name_node)} in {path.name}>")
    return found


def check_services(integration: Path) -> Iterator[str]:
    path = integration / "services.yaml"
    declared = set((_load_yaml(path) or {}) if path.exists() else {})
    registered = registered_actions(integration)
    for name in sorted(registered - declared):
        yield f"{path}: action '{name}' is registered in the code but not described here"
    for name in sorted(declared - registered):
        yield f"{path}: action '{name}' is described here but never registered"
    strings = _load_json(integration / "strings.json").get("services", {})
    for name in sorted(declared):
        if name not in strings:
            yield f"{integration / 'strings.json'}: services.{name} (name, description) missing"


def check_blueprints(repo: Path) -> Iterator[str]:
    for path in sorted((repo / "blueprints").rglob("*.yaml")):
        try:
            doc = _load_yaml(path)
        except yaml.YAMLError as err:
            yield f"{path}: not valid YAML ({err})"
            continue
        meta = doc.get("blueprint") if isinstance(doc, dict) else None
        if not isinstance(meta, dict):
            yield f"{path}: no 'blueprint:' section"
            continue
        if not meta.get("name"):
            yield f"{path}: blueprint.name is required"
        if meta.get("domain") not in ("automation", "script", "template"):
            yield f"{path}: blueprint.domain must be automation, script or template"
        inputs = meta.get("input", {})
        if not isinstance(inputs, dict):
            yield f"{path}: blueprint.input must be a mapping"
        if meta.get("domain") == "automation" and not any(
            k in doc for k in ("trigger", "triggers")
        ):
            yield f"{path}: an automation blueprint needs triggers"


def check_quality_scale(integration: Path) -> Iterator[str]:
    path = integration / "quality_scale.yaml"
    if not path.exists():
        yield f"{path}: missing"
        return
    rules = (_load_yaml(path) or {}).get("rules")
    if not isinstance(rules, dict):
        yield f"{path}: needs a 'rules:' mapping"
        return
    known = {rule for tier in QUALITY_SCALE_RULES.values() for rule in tier}
    for rule in sorted(known - set(rules)):
        yield f"{path}: rule '{rule}' is missing"
    for rule, value in rules.items():
        if rule not in known:
            yield f"{path}: '{rule}' is not a rule of the Integration Quality Scale"
            continue
        status, comment = (value, None) if isinstance(value, str) else (None, None)
        if isinstance(value, dict):
            status, comment = value.get("status"), value.get("comment")
        if status not in QUALITY_STATUSES:
            yield f"{path}: {rule}: status must be done, todo or exempt (got {status!r})"
        elif status in ("todo", "exempt") and not (isinstance(comment, str) and comment.strip()):
            yield f"{path}: {rule}: '{status}' needs a comment saying why"


def lint(repo: Path) -> list[str]:
    integration = repo / "custom_components" / DOMAIN
    checks = (
        check_manifest(integration),
        check_hacs(repo),
        check_translations(integration),
        check_services(integration),
        check_blueprints(repo),
        check_quality_scale(integration),
    )
    problems: list[str] = []
    for check in checks:
        try:
            problems.extend(check)
        except (OSError, ValueError, yaml.YAMLError) as err:
            problems.append(f"cannot read: {err}")
    return problems


def main(argv: list[str]) -> int:
    repo = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems = lint(repo)
    for problem in problems:
        print(problem)
    print(f"lint: {len(problems)} problem(s)" if problems else "lint: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
