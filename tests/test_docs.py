"""The docs must not drift from the code: every command, option, setting and column is documented.

The lists are introspected from the real objects (the click group, the pydantic ``Settings``
model, and a DuckDB file after all migrations), so adding a flag, a key or a column without
documenting it fails here, naming what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import duckdb
import pytest
from pydantic import BaseModel

from silkwatch.cli import cli
from silkwatch.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"

# Sections of Settings that are single tables, so each scalar key has an env twin.
# (feeds, themes and alerts.rules are lists, webhooks a table of tables: TOML only.)
ENV_SECTIONS = (
    "storage",
    "fetch",
    "classifier",
    "alerts",
    "email",
    "digest",
    "schedule",
    "lake",
)
NOT_SETTINGS = {"source"}  # set by load_settings, not by users


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """Markdown heading text -> body until the next heading of the same or higher level."""
    out: dict[str, str] = {}
    matches = list(re.finditer(r"^(#{1,6})\s+(.+?)\s*$", text, flags=re.M))
    for i, m in enumerate(matches):
        level = len(m.group(1))
        end = len(text)
        for later in matches[i + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        title = re.sub(r"\s*\(view\)$", "", m.group(2)).strip("` ")
        out[title] = text[m.end() : end]
    return out


# --- CLI -----------------------------------------------------------------------------------


def _commands(group: click.Group, prefix: str = "silkwatch") -> Iterator[tuple[str, click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if cmd.hidden:
            continue
        path = f"{prefix} {name}"
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)


def _options(cmd: click.Command) -> list[str]:
    names = []
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            names.extend(longs or param.opts)
    return names


CLI_COMMANDS = list(_commands(cli))


def test_the_cli_has_commands_to_document():
    assert {"silkwatch demo", "silkwatch serve", "silkwatch run", "silkwatch sql"} <= {
        path for path, _ in CLI_COMMANDS
    }


@pytest.mark.parametrize("path", [p for p, _ in CLI_COMMANDS])
def test_every_cli_command_and_option_is_documented(path: str):
    sections = _sections(_doc("cli.md"))
    assert path in sections, f"docs/cli.md has no heading '## {path}'"
    cmd = dict(CLI_COMMANDS)[path]
    body = sections[path]
    missing = [opt for opt in _options(cmd) if f"`{opt}" not in body]
    assert not missing, f"docs/cli.md section '{path}' does not mention {missing}"


# --- configuration -------------------------------------------------------------------------


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside ``X``, ``X | None``, ``tuple[X, ...]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """Yield (dotted key, is_leaf) for every field; dict-of-model fields get a NAME part."""
    for name, field in model.model_fields.items():
        if not prefix and name in NOT_SETTINGS:
            continue
        key = f"{prefix}{name}"
        sub = _model_of(field.annotation)
        if sub is None:
            yield key, True
            continue
        yield key, False
        origin = getattr(field.annotation, "__origin__", None)
        yield from _keys(sub, f"{key}.NAME." if origin is dict else f"{key}.")


CONFIG_KEYS = list(_keys(Settings))


def test_settings_have_keys_to_document():
    assert ("storage.database", True) in CONFIG_KEYS
    assert ("webhooks.NAME.url_env", True) in CONFIG_KEYS


@pytest.mark.parametrize("key", [k for k, leaf in CONFIG_KEYS if leaf])
def test_every_config_key_is_documented(key: str):
    assert f"`{key}`" in _doc("configuration.md"), f"docs/configuration.md lacks `{key}`"


@pytest.mark.parametrize("section", [k for k, leaf in CONFIG_KEYS if not leaf])
def test_every_config_section_has_a_heading(section: str):
    """Sections appear as TOML headers: `[storage]`, `[[feeds]]`, `[webhooks.NAME]`."""
    text = _doc("configuration.md")
    forms = (f"`[{section}]`", f"`[[{section}]]`", f"`[{section}.NAME]`")
    assert any(form in text for form in forms), f"docs/configuration.md lacks {forms[0]}"


ENV_KEYS = [
    k for k, leaf in CONFIG_KEYS if leaf and k.count(".") == 1 and k.split(".")[0] in ENV_SECTIONS
]


@pytest.mark.parametrize("key", ENV_KEYS)
def test_every_scalar_key_documents_its_environment_override(key: str):
    section, _, name = key.partition(".")
    var = f"SILKWATCH_{section.upper()}__{name.upper()}"
    assert var in _doc("configuration.md"), f"docs/configuration.md lacks {var}"


def test_documented_defaults_match_the_code():
    """Reference rows read `| `key` | `default` | ...`: the default shown must be the real one."""
    import tomllib

    from silkwatch.config import load_settings

    settings = load_settings(None, environ={})
    checked = 0
    rows = re.finditer(
        r"^\|\s*`([a-z_.]+)`\s*\|\s*`([^`]*)`\s*\|", _doc("configuration.md"), flags=re.M
    )
    for row in rows:
        key, shown = row.group(1), row.group(2)
        section, _, name = key.partition(".")
        if section not in ENV_SECTIONS or section == "email" or "." in name:
            continue
        value = getattr(getattr(settings, section), name)
        if key == "storage.database":
            value = value.name  # resolved against the working directory when loaded
        if isinstance(value, tuple):
            value = list(value)
        assert tomllib.loads(f"v = {shown}")["v"] == value, f"{key}: docs {shown}, code {value!r}"
        checked += 1
    assert checked >= 20


# --- tables --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict[str, list[str]]:
    from warehouse.db import open_db

    path = tmp_path_factory.mktemp("docs") / "schema.duckdb"
    with open_db(path):
        pass
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def test_every_table_view_and_column_is_documented(schema: dict[str, list[str]]):
    assert {"feeds", "items", "fetch_log", "item_themes", "alerts_sent"} <= set(schema)
    sections = _sections(_doc("tables.md"))
    problems = []
    for table, columns in schema.items():
        if table not in sections:
            problems.append(f"no heading for table {table}")
            continue
        missing = [c for c in columns if f"`{c}`" not in sections[table]]
        if missing:
            problems.append(f"{table}: columns {missing}")
    assert not problems, "docs/tables.md: " + "; ".join(problems)


# --- links ---------------------------------------------------------------------------------


def test_relative_links_between_docs_resolve():
    broken = []
    for page in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert not broken, broken


# --- examples ------------------------------------------------------------------------------


TOML_PAGES = sorted(p.name for p in DOCS.glob("*.md") if "```toml" in p.read_text("utf-8"))


@pytest.mark.parametrize("page", TOML_PAGES)
def test_toml_examples_in_the_docs_are_valid_configuration(page: str, tmp_path: Path):
    """A page's ```toml blocks, taken together, load as a configuration."""
    from silkwatch.config import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", _doc(page), flags=re.S)
    config = tmp_path / "example.toml"
    config.write_text("\n".join(blocks), encoding="utf-8")
    load_settings(config, environ={})


def test_docker_config_is_valid_configuration():
    from silkwatch.config import load_settings

    settings = load_settings(DOCS.parent / "docker" / "silkwatch.toml", environ={})
    assert settings.email is not None and settings.email.host == "mailpit"
