"""scripts/lint.py finds what hassfest and HACS would reject, in broken copies of the repo."""

from __future__ import annotations

import importlib.util
import json
import shutil
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
    shutil.copy(REPO / "hacs.json", tmp_path / "hacs.json")
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
