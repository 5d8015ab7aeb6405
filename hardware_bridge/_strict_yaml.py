"""The strict YAML the bridge reads from users' files (device profiles, the daemon's config).

No aliases (nine aliases of nine aliases of … make a few hundred bytes expand to hundreds of
millions of values), no explicit tags (they ask PyYAML for types these files never hold, and
some constructors fail on odd input), no merge keys, no key given twice in one mapping, and
bounded nesting. Each reader subclasses :class:`StrictComposer` and :class:`StrictConstructor`,
setting where its messages say the rule applies and how they show a value.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, ClassVar

from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner

__all__ = ["EventSource", "StrictComposer", "StrictConstructor"]

_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml's scanner and parser: about 5× faster than PyYAML's own
    from yaml._yaml import CParser as EventSource
except ImportError:  # pragma: no cover - PyYAML built without libyaml

    class EventSource(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class StrictComposer(Composer):
    """The node tree without aliases, explicit tags or nesting deeper than ``max_depth``.

    Mix it in before the event source: its node building replaces libyaml's, which follows
    aliases unchecked.
    """

    max_depth: ClassVar[int] = 16
    where: ClassVar[str] = ""
    """Appended to "is not allowed" in messages (" in a profile")."""
    _depth = 0

    if TYPE_CHECKING:  # supplied by the event source mixed in

        def check_event(self, *choices: type[Event]) -> bool: ...
        def get_event(self) -> Any: ...
        def peek_event(self) -> Any: ...

    def shown_name(self, text: object) -> str:
        """An anchor or tag as a message shows it."""
        return str(text)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.get_event()
            raise ComposerError(
                None,
                None,
                f"alias *{self.shown_name(event.anchor)} is not allowed{self.where} "
                "(write the value out)",
                event.start_mark,
            )
        tag = getattr(self.peek_event(), "tag", None)
        if tag is not None:  # !!timestamp, !!binary, !!set …: these files hold plain values
            raise ComposerError(
                None,
                None,
                f"tag {self.shown_name(tag)} is not allowed{self.where} (quote text instead)",
                self.peek_event().start_mark,
            )
        if self._depth >= self.max_depth:
            raise ComposerError(
                None,
                None,
                f"nested deeper than {self.max_depth} levels",
                self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class StrictConstructor(SafeConstructor):
    """Python values from the node tree; a merge key or a key given twice is an error."""

    where: ClassVar[str] = ""

    def shown_key(self, key: object) -> str:
        """A duplicate key as a message shows it."""
        return str(key)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(
                    None, None, f"merge keys (<<) are not allowed{self.where}", key_node.start_mark
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
                    f"duplicate key {self.shown_key(key)} (first given on line {line + 1})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)
