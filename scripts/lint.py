"""Offline checks of what hassfest and HACS check online, and a few of our own.

    python scripts/lint.py [REPO]      exit 0 if clean, 1 with one line per problem

Checks: manifest.json keys (required ones; order domain, name, then alphabetical), hacs.json
schema, strings.json == translations/en.json and every translation with exactly its keys,
services.yaml vs the actions the code registers (and their strings), blueprints' schema,
quality_scale.yaml (every rule of the Integration Quality Scale, status done/todo/exempt, a
comment for todo and exempt), one version everywhere (pyproject, manifest version and its
smartpower-hardware-bridge requirement, hardware_bridge.__version__; the manifest's pymodbus
range equal to the package's), CHANGELOG.md, LICENSE, and the brand images' sizes.

    python scripts/lint.py --release-tag vX.Y.Z [--release-notes FILE]

also checks that the tag is the version and that CHANGELOG.md has a dated section for it, and
writes that section to FILE (the release workflow's notes).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import struct
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["QUALITY_SCALE_RULES", "changelog_section", "lint"]

DOMAIN = "smartpower_terminal"
DISTRIBUTION = "smartpower-hardware-bridge"
VERSION = re.compile(r"\d+\.\d+\.\d+")
# Brand images (Home Assistant 2026.3+ serves them from the integration's brand/ folder):
# icons square, logos with their shortest side in a range; the @2x files twice the size.
BRAND_ICONS = {"icon.png": 256, "icon@2x.png": 512, "dark_icon.png": 256, "dark_icon@2x.png": 512}
BRAND_LOGOS = {
    "logo.png": (128, 256),
    "logo@2x.png": (256, 512),
    "dark_logo.png": (128, 256),
    "dark_logo@2x.png": (256, 512),
}
BRAND_REQUIRED = ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANGELOG_SECTION = re.compile(r"^## \[(?P<name>[^\]]+)\](?P<rest>.*)$", re.MULTILINE)

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


def _requirement_parts(spec: str) -> list[str]:
    """``"pymodbus >=3.11, <3.16"`` → ``[">=3.11", "<3.16"]`` (sorted, spaces removed)."""
    return sorted(part.strip() for part in spec.replace(" ", "").split(",") if part.strip())


def _requirement(requirements: list[Any], name: str) -> str | None:
    """The version part of ``name``'s entry in a requirement list (None if absent)."""
    pattern = re.compile(rf"^{re.escape(name)}\s*(?P<spec>[<>=!~].*)?$", re.IGNORECASE)
    for requirement in requirements:
        if isinstance(requirement, str) and (match := pattern.match(requirement.strip())):
            return match.group("spec") or ""
    return None


def _package_version(repo: Path) -> str | None:
    """``__version__`` in hardware_bridge/__init__.py, read without importing it."""
    path = repo / "hardware_bridge" / "__init__.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def project_version(repo: Path) -> str:
    return str(tomllib.loads((repo / "pyproject.toml").read_text("utf-8"))["project"]["version"])


def check_versions(repo: Path) -> Iterator[str]:
    """One version: pyproject, manifest, the manifest's requirement, the package's __version__."""
    pyproject_path = repo / "pyproject.toml"
    project = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))["project"]
    version = str(project.get("version", ""))
    if not VERSION.fullmatch(version):
        yield f"{pyproject_path}: version must be X.Y.Z (got {version!r})"
    manifest_path = repo / "custom_components" / DOMAIN / "manifest.json"
    manifest = _load_json(manifest_path)
    if manifest.get("version") != version:
        yield (
            f"{manifest_path}: version {manifest.get('version')!r} differs from "
            f"pyproject.toml's {version!r}"
        )
    requirements = manifest.get("requirements", [])
    pinned = _requirement(requirements, DISTRIBUTION)
    if pinned != f"=={version}":
        yield (
            f"{manifest_path}: requirements must contain {DISTRIBUTION}=={version} "
            f"(pyproject.toml's version), found {DISTRIBUTION}{pinned or ' (none)'}"
        )
    package = _package_version(repo)
    if package != version:
        yield (
            f"{repo / 'hardware_bridge' / '__init__.py'}: __version__ {package!r} differs from "
            f"pyproject.toml's {version!r}"
        )
    # A manifest range for pymodbus other than the package's would let Home Assistant install
    # a version the package refuses (or the other way round).
    ours = _requirement(project.get("dependencies", []), "pymodbus")
    theirs = _requirement(requirements, "pymodbus")
    if (
        theirs is not None
        and ours is not None
        and _requirement_parts(ours) != _requirement_parts(theirs)
    ):
        yield (f"{manifest_path}: pymodbus{theirs} differs from pyproject.toml's pymodbus{ours}")


def changelog_section(text: str, name: str) -> str | None:
    """The body of CHANGELOG.md's ``## [name]`` section (None if there is none)."""
    sections = list(CHANGELOG_SECTION.finditer(text))
    for index, match in enumerate(sections):
        if match.group("name") == name:
            end = sections[index + 1].start() if index + 1 < len(sections) else len(text)
            body = text[match.end() : end]
            # Keep a Changelog's link definitions at the end belong to no section.
            body = re.sub(r"^\[[^\]]+\]: \S+\s*$", "", body, flags=re.MULTILINE)
            return body.strip()
    return None


def check_changelog(repo: Path) -> Iterator[str]:
    path = repo / "CHANGELOG.md"
    if not path.exists():
        yield f"{path}: missing"
        return
    text = path.read_text(encoding="utf-8")
    version = project_version(repo)
    names = [m.group("name") for m in CHANGELOG_SECTION.finditer(text)]
    if "Unreleased" not in names and version not in names:
        yield f"{path}: needs an '## [Unreleased]' section or one for {version}"
    for match in CHANGELOG_SECTION.finditer(text):
        name, rest = match.group("name"), match.group("rest")
        if name == "Unreleased":
            continue
        if not VERSION.fullmatch(name) or not re.fullmatch(r" - \d{4}-\d\d-\d\d", rest):
            yield f"{path}: section '{match.group(0)}' must read '## [X.Y.Z] - YYYY-MM-DD'"


def check_license(repo: Path) -> Iterator[str]:
    path = repo / "LICENSE"
    if not path.exists():
        yield f"{path}: missing (pyproject.toml declares Apache-2.0)"
        return
    head = " ".join(path.read_text(encoding="utf-8").split()[:20])
    declared = tomllib.loads((repo / "pyproject.toml").read_text("utf-8"))["project"].get("license")
    if declared == "Apache-2.0" and not head.startswith("Apache License Version 2.0"):
        yield f"{path}: is not the Apache License 2.0 text that pyproject.toml declares"


def png_size(path: Path) -> tuple[int, int, int]:
    """Width, height and colour type from a PNG's IHDR chunk (ValueError if not a PNG)."""
    with path.open("rb") as file:
        header = file.read(29)
    if len(header) < 29 or header[:8] != PNG_SIGNATURE or header[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    width, height = struct.unpack(">II", header[16:24])
    return width, height, header[25]


def check_brand(integration: Path) -> Iterator[str]:
    folder = integration / "brand"
    for name in BRAND_REQUIRED:
        if not (folder / name).exists():
            yield f"{folder / name}: missing"
    if not folder.is_dir():
        return
    sizes: dict[str, tuple[int, int]] = {}
    for path in sorted(folder.iterdir()):
        if path.name not in BRAND_ICONS and path.name not in BRAND_LOGOS:
            yield f"{path}: not a brand image name Home Assistant knows"
            continue
        try:
            width, height, colour = png_size(path)
        except ValueError as err:
            yield str(err)
            continue
        sizes[path.name] = (width, height)
        if colour not in (4, 6):
            yield f"{path}: needs an alpha channel (transparent background)"
        if path.name in BRAND_ICONS:
            side = BRAND_ICONS[path.name]
            if (width, height) != (side, side):
                yield f"{path}: must be {side}×{side} (is {width}×{height})"
        else:
            low, high = BRAND_LOGOS[path.name]
            if not low <= min(width, height) <= high or width < height:
                yield (
                    f"{path}: a logo is landscape (or square) with its shortest side "
                    f"{low}-{high} px (is {width}×{height})"
                )
    for base in ("logo.png", "dark_logo.png"):
        double = base.replace(".png", "@2x.png")
        if base in sizes and double in sizes:
            (w1, h1), (w2, h2) = sizes[base], sizes[double]
            if abs(w2 - 2 * w1) > 2 or abs(h2 - 2 * h1) > 2:
                yield f"{folder / double}: must be twice {base} ({w1}×{h1})"


def check_release(repo: Path, tag: str) -> Iterator[str]:
    version = project_version(repo)
    if tag != f"v{version}":
        yield f"tag {tag!r} is not v + pyproject.toml's version ({version})"
    path = repo / "CHANGELOG.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if not changelog_section(text, version):
        yield f"{path}: no '## [{version}] - YYYY-MM-DD' section with the release's changes"


def lint(repo: Path, *, release_tag: str | None = None) -> list[str]:
    integration = repo / "custom_components" / DOMAIN
    checks = [
        check_manifest(integration),
        check_hacs(repo),
        check_translations(integration),
        check_services(integration),
        check_blueprints(repo),
        check_quality_scale(integration),
        check_versions(repo),
        check_changelog(repo),
        check_license(repo),
        check_brand(integration),
    ]
    if release_tag is not None:
        checks.append(check_release(repo, release_tag))
    problems: list[str] = []
    for check in checks:
        try:
            problems.extend(check)
        except (OSError, ValueError, KeyError, SyntaxError, yaml.YAMLError) as err:
            problems.append(f"cannot read: {err}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lint", description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--release-tag", help="also check a release: the tag (vX.Y.Z) and notes")
    parser.add_argument("--release-notes", type=Path, help="write the release's CHANGELOG section")
    args = parser.parse_args(argv[1:])
    problems = lint(args.repo, release_tag=args.release_tag)
    for problem in problems:
        print(problem)
    print(f"lint: {len(problems)} problem(s)" if problems else "lint: ok")
    if problems:
        return 1
    if args.release_notes is not None:
        text = (args.repo / "CHANGELOG.md").read_text(encoding="utf-8")
        notes = changelog_section(text, project_version(args.repo)) or ""
        args.release_notes.write_text(notes + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
