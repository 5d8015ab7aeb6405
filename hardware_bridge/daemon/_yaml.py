"""A strict YAML reader for the daemon's configuration that remembers where each value was.

Same rules as the profile loader (:mod:`hardware_bridge._strict_yaml`): bounded size and
nesting, no aliases, no explicit tags, no merge keys, no duplicate keys. On top of that it
returns, for every field path (``("lines", 0, "devices", 1, "address")``), the line the value
stands on, so a schema error can say ``terminal.yaml:14: lines[0].devices[1].address: …``.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from hardware_bridge._strict_yaml import EventSource, StrictComposer, StrictConstructor

__all__ = ["FieldPath", "parse_with_lines"]

type FieldPath = tuple[str | int, ...]

_MAX_DEPTH = 12


def _short(text: object) -> str:
    shown = str(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


class _Composer(StrictComposer):
    max_depth = _MAX_DEPTH

    def shown_name(self, text: object) -> str:
        return _short(text)


class _Constructor(StrictConstructor):
    def shown_key(self, key: object) -> str:
        return _short(key)


class _Loader(_Composer, EventSource, _Constructor, Resolver):
    def __init__(self, stream: str) -> None:
        EventSource.__init__(self, stream)
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
