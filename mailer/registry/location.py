"""Point a home at its registry database: ``registry_url`` and ``registry_schema`` written into duban.toml
(`duban init --registry-url`), with tomlkit so that the file's comments and other settings stay as they were."""

from __future__ import annotations

from pathlib import Path

from mailer.common.config import CONFIG_NAME, check_registry_settings, load_settings
from mailer.common.errors import ConfigError
from mailer.common.files import write_atomic


def set_registry(home: Path, url: str, schema: str = "") -> None:
    """Write ``registry_url`` (and ``registry_schema``, or remove it) at the top of the home's duban.toml.

    :raises ConfigError: the file is not valid TOML, or the URL and schema are not usable (checked before
        anything is written: a password in the URL, a schema without PostgreSQL, a bad schema name)
    """
    import tomlkit

    path = home / CONFIG_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{path} 不是有效的 TOML（{e}）。请先改正该文件。") from e
    doc["registry_url"] = url
    if schema:
        doc["registry_schema"] = schema
    elif "registry_schema" in doc:
        del doc["registry_schema"]
    new = tomlkit.dumps(doc)
    from dataclasses import replace

    check_registry_settings(replace(load_settings(home), registry_url=url, registry_schema=schema))
    write_atomic(path, new.encode("utf-8"))
    load_settings(home)  # the file as written loads (the keys landed at the top level)
