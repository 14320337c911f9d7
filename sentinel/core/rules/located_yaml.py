"""Expectation files as YAML documents that remember where each value was, and the report of
every problem found in them, in file and line order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

# ("spec", "steps", 2, "within"): where a value is, as jsonschema's `absolute_path` says it.
FieldPath = tuple[str | int, ...]
Reporter = Callable[[FieldPath, str], None]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
# Aliases can repeat a subtree many times over; no real expectation comes near this.
_MAX_VALUES = 100_000


class Report:
    """Problems and warnings per file: files in the order given, each file's in line order."""

    def __init__(self) -> None:
        self._problems: dict[str, list[tuple[int, str]]] = {}
        self._warnings: dict[str, list[tuple[int, str]]] = {}
        self.problem_count = 0

    def add_file(self, file: str) -> None:
        self._problems.setdefault(file, [])
        self._warnings.setdefault(file, [])

    def problem(self, file: str, line: int, text: str) -> None:
        self.add_file(file)
        entry = (line, f"{file}:{line}: {text}")
        # jsonschema reports each missing key of a mapping on its own; say each once.
        if entry not in self._problems[file]:
            self._problems[file].append(entry)
            self.problem_count += 1

    def warning(self, file: str, line: int, text: str) -> None:
        self.add_file(file)
        self._warnings[file].append((line, f"{file}:{line}: warning: {text}"))

    def problems(self) -> tuple[str, ...]:
        return _in_line_order(self._problems)

    def warnings(self) -> tuple[str, ...]:
        return _in_line_order(self._warnings)

    def has_problems(self, file: str) -> bool:
        return bool(self._problems.get(file))


def _in_line_order(entries: dict[str, list[tuple[int, str]]]) -> tuple[str, ...]:
    return tuple(
        text
        for per_file in entries.values()
        for _, text in sorted(per_file, key=lambda entry: entry[0])
    )


def read_file(file: Path, report: Report) -> list[Document]:
    name = str(file)
    try:
        raw = file.read_bytes()
    except OSError as error:
        report.problem(name, 1, f"cannot read: {error.strerror or error}")
        return []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        report.problem(
            name, line, f"not UTF-8 text (byte {raw[error.start]:#04x}); save it as UTF-8"
        )
        return []
    documents: list[Document] = []
    try:
        for root in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if isinstance(root, ScalarNode) and root.tag == _NULL_TAG:
                continue  # an empty document, e.g. a trailing `---`
            document = Document(name, root)
            if _Converter(document, report).convert():
                documents.append(document)
    except yaml.YAMLError as error:
        report.problem(
            name, _yaml_error_line(error, text), f"not valid YAML: {_yaml_error_text(error)}"
        )
    except RecursionError:
        report.problem(name, 1, "not readable: the YAML is nested too deeply")
    if not documents and not report.has_problems(name):
        report.problem(name, 1, "holds no expectation: the file has no YAML document")
    return documents


def _yaml_error_line(error: yaml.YAMLError, text: str) -> int:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return mark.line + 1
    if isinstance(error, ReaderError):
        return text.count("\n", 0, error.position) + 1
    return 1


def _yaml_error_text(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        text = error.problem or error.context or "cannot be parsed"
        if error.context and error.problem and error.context_mark is not None:
            text += f" ({error.context} on line {error.context_mark.line + 1})"
        return text
    if isinstance(error, ReaderError) and isinstance(error.character, int):
        return f"the character {error.character:#06x} is not allowed ({error.reason})"
    return str(error)


# --- YAML nodes to plain data, remembering where each value was ---------------------------


@dataclass
class Document:
    """One YAML document: its plain data and, for each path into it, its key and value nodes."""

    file: str
    root: Node
    data: Any = None
    nodes: dict[FieldPath, tuple[Node | None, Node]] = field(default_factory=dict)
    # Keys that YAML 1.1 read as booleans (a bare `on:`), kept under their text.
    boolean_keys: set[FieldPath] = field(default_factory=set)

    def line(self, path: FieldPath) -> int:
        """The line of the key at `path` (of its value if it has no key, e.g. a list item).

        A path that does not exist (a missing field) points at its nearest existing parent.
        """
        while path not in self.nodes and path:
            path = path[:-1]
        key_node, value_node = self.nodes.get(path, (None, self.root))
        return int((key_node or value_node).start_mark.line) + 1

    @property
    def origin(self) -> str:
        return f"{self.file}:{self.line(())}"


class _TooLarge(Exception):
    """The document expands to more values than any expectation needs."""


class _Converter:
    """Turns a composed document into plain data: strings, numbers, booleans, lists, dicts."""

    def __init__(self, document: Document, report: Report) -> None:
        self.document = document
        self.report = report
        self.constructor = SafeConstructor()
        self.budget = _MAX_VALUES
        self.open: set[int] = set()
        self.own_keys: dict[int, set[int]] = {}

    def convert(self) -> bool:
        """Fill in the document; False if it cannot be used at all (problems reported)."""
        try:
            self.document.data = self.value(self.document.root, (), None)
        except _TooLarge:
            self.problem((), f"expands to more than {_MAX_VALUES} values (through aliases?)")
            return False
        return True

    def problem(self, path: FieldPath, text: str) -> None:
        self.report.problem(
            self.document.file, self.document.line(path), f"{field_name(path)}: {text}"
        )

    def value(self, node: Node, path: FieldPath, key_node: Node | None) -> Any:
        self.document.nodes[path] = (key_node, node)
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node, deep=True)
            # PyYAML's constructors fail in many ways on odd input (`!!bool maybe` is a
            # KeyError, `!!timestamp x` an AttributeError): each is a problem of the file.
            except Exception as error:
                kind = str(node.tag).removeprefix("tag:yaml.org,2002:")
                reason = ""
                if isinstance(error, yaml.YAMLError | ValueError):
                    text = _yaml_error_text(error) if isinstance(error, yaml.YAMLError) else error
                    reason = f" ({text})"
                self.problem(
                    path, f"{node.value!r} cannot be read as {kind}{reason}; quote it if it is text"
                )
                return None
        if id(node) in self.open:
            self.problem(path, "an alias here refers to a value that contains it")
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [
                    self.value(item, (*path, index), None) for index, item in enumerate(node.value)
                ]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path)
        finally:
            self.open.discard(id(node))

    def mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        own = self.own_keys.setdefault(id(node), {id(key) for key, _ in node.value})
        try:
            self.constructor.flatten_mapping(node)  # resolves `<<: *anchor` merges
        except yaml.YAMLError as error:
            self.problem(path, f"cannot merge: {_yaml_error_text(error)}")
            return {}
        result: dict[str, Any] = {}
        own_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                kind = "list" if isinstance(key_node, SequenceNode) else "mapping"
                self.report.problem(
                    self.document.file,
                    key_node.start_mark.line + 1,
                    f"{field_name(path)}: a key must be a plain name, not a {kind}",
                )
                continue
            key = str(key_node.value)
            if key_node.tag == _BOOL_TAG:
                self.document.boolean_keys.add((*path, key))
            if id(key_node) in own:
                if key in own_seen:
                    first = own_seen[key].start_mark.line + 1
                    self.report.problem(
                        self.document.file,
                        key_node.start_mark.line + 1,
                        f"{field_name((*path, key))}: given twice (first on line {first});"
                        " keep one",
                    )
                    continue
                own_seen[key] = key_node
            # Merged keys come first, so a key of the mapping itself overrides them.
            result[key] = self.value(value_node, (*path, key), key_node)
        return result


def field_name(path: FieldPath) -> str:
    """`spec.steps[2].within` for ("spec", "steps", 2, "within")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f"{'.' if text else ''}{part}"
    return text or "the document"
