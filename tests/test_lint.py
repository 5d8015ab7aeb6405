"""scripts/lint.py finds what hassfest and HACS would reject, in broken copies of the repo."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import zlib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
INTEGRATION = Path("custom_components/smartpower_terminal")


def _load_lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smartpower_lint", REPO / "scripts" / "lint.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lint = _load_lint()

GOOD_QUALITY_SCALE = "rules:\n" + "".join(
    f"  {rule}:\n    status: done\n"
    for rules in lint.QUALITY_SCALE_RULES.values()
    for rule in rules
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's metadata that passes every check."""
    shutil.copytree(
        REPO / INTEGRATION, tmp_path / INTEGRATION, ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("hacs.json", "pyproject.toml", "LICENSE", "CHANGELOG.md"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "hardware_bridge").mkdir()
    shutil.copy(REPO / "hardware_bridge" / "__init__.py", tmp_path / "hardware_bridge")
    (tmp_path / INTEGRATION / "quality_scale.yaml").write_text(GOOD_QUALITY_SCALE)
    assert lint.lint(tmp_path) == []
    return tmp_path


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _problems(repo: Path) -> str:
    return "\n".join(lint.lint(repo))


def test_manifest_keys_out_of_order_or_missing(repo: Path) -> None:
    path = repo / INTEGRATION / "manifest.json"
    manifest = _json(path)
    version = manifest.pop("version")
    _write_json(path, {"version": version, **manifest})
    assert "keys must be ordered domain, name, then alphabetically" in _problems(repo)
    manifest.pop("iot_class")
    _write_json(path, manifest)
    assert "missing key 'iot_class'" in _problems(repo)


def test_hacs_json_schema(repo: Path) -> None:
    path = repo / "hacs.json"
    _write_json(path, {"name": "X", "homeassistant": "2025.4", "render_readme": "yes", "zip": 1})
    problems = _problems(repo)
    assert "'homeassistant' must be a version string" in problems
    assert "'render_readme' has the wrong type" in problems
    assert "unknown key 'zip'" in problems
    _write_json(path, {"homeassistant": "2025.4.0"})
    problems = _problems(repo)
    assert "'name' is required" in problems
    assert "'render_readme' is required" in problems


def test_english_must_equal_strings_and_turkish_must_have_the_same_keys(repo: Path) -> None:
    translations = repo / INTEGRATION / "translations"
    english = _json(translations / "en.json")
    english["config"]["abort"]["extra_english"] = "Only here"
    _write_json(translations / "en.json", english)
    turkish = _json(translations / "tr.json")
    step, _ = next(iter(turkish["config"]["step"].items()))
    del turkish["config"]["step"][step]["title"]
    turkish["config"]["abort"]["fazla"] = "Fazladan"
    _write_json(translations / "tr.json", turkish)
    problems = _problems(repo)
    assert "en.json: differs from strings.json" in problems
    assert f"tr.json: missing key config.step.{step}.title" in problems
    assert "tr.json: key config.abort.fazla is not in strings.json" in problems


def test_services_yaml_against_registered_actions(repo: Path) -> None:
    (repo / INTEGRATION / "services.yaml").write_text("reset_counters:\n  fields: {}\n")
    problems = _problems(repo)
    assert "action 'read_now' is registered in the code but not described here" in problems
    assert "action 'reset_counters' is described here but never registered" in problems
    assert "services.reset_counters (name, description) missing" in problems


def test_blueprints_schema(repo: Path) -> None:
    folder = repo / "blueprints" / "automation" / "smartpower_terminal"
    folder.mkdir(parents=True)
    (folder / "good.yaml").write_text(
        "blueprint:\n  name: Pump\n  domain: automation\n  input:\n    level: {}\n"
        "triggers:\n  - trigger: state\n    entity_id: !input level\nactions: []\n"
    )
    (folder / "bad.yaml").write_text("blueprint:\n  domain: lights\nactions: []\n")
    problems = _problems(repo)
    assert "good.yaml" not in problems
    assert "bad.yaml: blueprint.name is required" in problems
    assert "bad.yaml: blueprint.domain must be automation, script or template" in problems


def test_quality_scale_rules_and_statuses(repo: Path) -> None:
    path = repo / INTEGRATION / "quality_scale.yaml"
    text = GOOD_QUALITY_SCALE.replace("  strict-typing:\n    status: done\n", "")
    text = text.replace("  brands:\n    status: done", "  brands:\n    status: todo")
    text = text.replace("  discovery:\n    status: done", "  discovery:\n    status: maybe")
    text += "  made-up-rule: done\n"
    path.write_text(text)
    problems = _problems(repo)
    assert "rule 'strict-typing' is missing" in problems
    assert "brands: 'todo' needs a comment saying why" in problems
    assert "discovery: status must be done, todo or exempt" in problems
    assert "'made-up-rule' is not a rule of the Integration Quality Scale" in problems


def test_the_command_exits_non_zero_on_problems(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lint.main(["lint", str(repo)]) == 0
    (repo / "hacs.json").unlink()
    assert lint.main(["lint", str(repo)]) == 1
    assert "hacs.json: missing" in capsys.readouterr().out


def _set_version(repo: Path, old: str, new: str, *files: str) -> None:
    for name in files:
        path = repo / name
        path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_one_version_in_pyproject_manifest_requirement_and_package(repo: Path) -> None:
    version = lint.project_version(repo)
    manifest = "custom_components/smartpower_terminal/manifest.json"
    # The release bumps pyproject but forgets the manifest's requirement (what HA installs).
    _set_version(repo, f'version = "{version}"', 'version = "9.9.9"', "pyproject.toml")
    _set_version(repo, f'"version": "{version}"', '"version": "9.9.9"', manifest)
    _set_version(repo, f'"{version}"', '"9.9.9"', "hardware_bridge/__init__.py")
    problems = _problems(repo)
    assert "requirements must contain smartpower-hardware-bridge==9.9.9" in problems
    assert f"found smartpower-hardware-bridge=={version}" in problems
    assert "version '9.9.9' differs" not in problems
    pin = "smartpower-hardware-bridge=="
    _set_version(repo, f"{pin}{version}", f"{pin}9.9.9", manifest)
    _set_version(repo, '"version": "9.9.9"', '"version": "9.9.8"', manifest)
    _set_version(repo, '"9.9.9"', '"9.9.7"', "hardware_bridge/__init__.py")
    problems = _problems(repo)
    assert "manifest.json: version '9.9.8' differs from pyproject.toml's '9.9.9'" in problems
    assert "__init__.py: __version__ '9.9.7' differs from pyproject.toml's '9.9.9'" in problems


def test_manifest_pymodbus_range_equals_the_packages(repo: Path) -> None:
    path = repo / INTEGRATION / "manifest.json"
    manifest = _json(path)
    manifest["requirements"] = [
        r if not r.startswith("pymodbus") else "pymodbus>=3.11,<3.99"
        for r in manifest["requirements"]
    ]
    _write_json(path, manifest)
    assert "pymodbus>=3.11,<3.99 differs from pyproject.toml's pymodbus" in _problems(repo)


def test_release_tag_must_be_the_version_with_a_changelog_section(repo: Path) -> None:
    version = lint.project_version(repo)
    problems = "\n".join(lint.lint(repo, release_tag="v0.0.1"))
    assert f"tag 'v0.0.1' is not v + pyproject.toml's version ({version})" in problems
    assert f"no '## [{version}] - YYYY-MM-DD' section" in problems
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    changelog.write_text(text.replace("## [Unreleased]", f"## [{version}] - 2026-12-01"))
    assert lint.lint(repo, release_tag=f"v{version}") == []
    notes = repo / "notes.md"
    command = ["lint", str(repo), "--release-tag", f"v{version}", "--release-notes", str(notes)]
    assert lint.main(command) == 0
    assert "### Fixed" in notes.read_text(encoding="utf-8")
    assert "## [" not in notes.read_text(encoding="utf-8")
    changelog.write_text(text.replace("## [Unreleased]", f"## [{version}] 1 Dec"))
    assert "must read '## [X.Y.Z] - YYYY-MM-DD'" in _problems(repo)


def test_changelog_and_license_must_be_there(repo: Path) -> None:
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [0.0.1] - 2020-01-01\n- old\n")
    (repo / "LICENSE").write_text("MIT License\n\nCopyright ...\n")
    problems = _problems(repo)
    assert "CHANGELOG.md: needs an '## [Unreleased]' section or one for" in problems
    assert "LICENSE: is not the Apache License 2.0 text that pyproject.toml declares" in problems
    (repo / "LICENSE").unlink()
    assert "LICENSE: missing" in _problems(repo)


def _png(path: Path, width: int, height: int, colour_type: int = 6) -> None:
    """A PNG's signature and IHDR chunk: all the lint reads."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)


def test_brand_images_sizes(repo: Path) -> None:
    brand = repo / INTEGRATION / "brand"
    shipped = {p.name for p in brand.iterdir()}
    assert shipped >= {"icon.png", "icon@2x.png", "logo.png", "logo@2x.png"}
    _png(brand / "icon.png", 256, 255)
    _png(brand / "icon@2x.png", 512, 512, colour_type=2)  # RGB: no transparency
    _png(brand / "logo.png", 300, 100)
    _png(brand / "logo@2x.png", 800, 256)
    (brand / "logo@3x.png").write_bytes(b"")
    (brand / "dark_icon.png").write_text("not a png")
    problems = _problems(repo)
    assert "icon.png: must be 256×256 (is 256×255)" in problems
    assert "icon@2x.png: needs an alpha channel" in problems
    assert "logo.png: a logo is landscape (or square) with its shortest side 128-256 px" in problems
    assert "logo@2x.png: must be twice logo.png (300×100)" in problems
    assert "logo@3x.png: not a brand image name Home Assistant knows" in problems
    assert "dark_icon.png: not a PNG file" in problems
    (brand / "logo.png").unlink()
    assert "brand/logo.png: missing" in _problems(repo)


def test_the_shipped_brand_images_pass() -> None:
    assert list(lint.check_brand(REPO / INTEGRATION)) == []
