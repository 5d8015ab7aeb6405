"""A strict YAML reader for the daemon's configuration that remembers where each value was.

Same rules as the profile loader (:mod:`hardware_bridge.modbus._loader`): bounded size and
nesting, no aliases, no explicit tags, no merge keys, no duplicate keys. On top of that it
returns, for every field path (``("lines", 0, "devices", 1, "address")``), the line the value
stands on, so a schema error can say ``terminal.yaml:14: lines[0].devices[1].address: …``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

__all__ = ["FieldPath", "parse_with_lines"]

type FieldPath = tuple[str | int, ...]

_MAX_DEPTH = 12
_MERGE_TAG = "tag:yaml.org,2002:merge"


try:  # libyaml's scanner and parser when PyYAML was built with it
    from yaml._yaml import CParser as _EventSource
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class _EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


def _short(text: object) -> str:
    shown = str(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


class _Composer(Composer):
    """The node tree without aliases (a few bytes can expand to millions of values), explicit
    tags (types a configuration never holds) or deep nesting."""

    _depth = 0

    if TYPE_CHECKING:  # supplied by the event source mixed in

        def check_event(self, *choices: type[Event]) -> bool: ...
        def get_event(self) -> Any: ...
        def peek_event(self) -> Any: ...

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.get_event()
            raise ComposerError(
                None,
                None,
                f"alias *{_short(event.anchor)} is not allowed (write the value out)",
                event.start_mark,
            )
        tag = getattr(self.peek_event(), "tag", None)
        if tag is not None:
            raise ComposerError(
                None,
                None,
                f"tag {_short(tag)} is not allowed (quote text instead)",
                self.peek_event().start_mark,
            )
        if self._depth >= _MAX_DEPTH:
            raise ComposerError(
                None, None, f"nested deeper than {_MAX_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Constructor(SafeConstructor):
    """Python values from the node tree; a key given twice in one mapping is an error."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(
                    None, None, "merge keys (<<) are not allowed", key_node.start_mark
                )
            if not isinstance(key_node, ScalarNode):
                continue  # SafeConstructor reports the unhashable key
            key = self.construct_object(key_node)
            try:
                line = first_line.get(key)
            except TypeError:
                continue
            if line is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {_short(key)} (first given on line {line + 1})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class _Loader(_Composer, _EventSource, _Constructor, Resolver):
    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        Resolver.__init__(self)


def _lines(node: Node, path: FieldPath, out: dict[FieldPath, int], line: int) -> None:
    """A field's line is where its key stands (a list entry's: where the entry starts)."""
    out[path] = line
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else "?"
            _lines(value_node, (*path, str(key)), out, key_node.start_mark.line + 1)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out, item.start_mark.line + 1)


def parse_with_lines(text: str) -> tuple[object, dict[FieldPath, int]]:
    """The document's value and the line (1-based) of every field path in it.

    Raises :class:`yaml.YAMLError` (with a ``problem_mark``) for anything refused.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[FieldPath, int] = {}
        _lines(node, (), lines, node.start_mark.line + 1)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()
