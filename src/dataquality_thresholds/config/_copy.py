"""A run directory's copy of its config, and where the copy's relative paths point.

``dqt run CONFIG`` copies the config to ``run_dir/config.toml`` (:func:`copy_config`)
and records the original's folder beside it in ``run_dir/config_origin.json``, so
``dqt resume RUN_DIR`` resolves the copy's relative paths (data files, ``work_dir``)
as the original config did, from any working directory (:func:`config_base`).
"""

from __future__ import annotations

import json
from pathlib import Path

from dataquality_thresholds._util.atomic import atomic_write
from dataquality_thresholds.errors import DataError, SchemaVersionError

__all__ = ["CONFIG_COPY", "ORIGIN_FILE", "config_base", "copy_config"]

#: The config's copy in a run directory.
CONFIG_COPY = "config.toml"
#: Where the copy came from (JSON: the original config and its folder).
ORIGIN_FILE = "config_origin.json"
_SCHEMA, _VERSION = "config_origin", 1


def copy_config(config: str | Path, run_dir: str | Path) -> Path:
    """Copy ``config`` to ``run_dir/config.toml`` and record its folder for :func:`config_base`.

    Both files are written atomically. A config that *is* the run directory's copy
    (``dqt run RUN_DIR/config.toml``) is left as it is, with its recorded origin.

    Parameters
    ----------
    config : str or Path
        The config file.
    run_dir : str or Path
        The run directory (made if missing).

    Returns
    -------
    Path
        The copy.
    """
    src = Path(config).resolve()
    folder = Path(run_dir)
    copy = folder / CONFIG_COPY
    if copy.exists() and copy.resolve() == src:
        return copy
    data = src.read_bytes()
    with atomic_write(copy) as fh:
        fh.write(data)
    origin = {
        "schema": _SCHEMA,
        "schema_version": _VERSION,
        "config": str(src),
        "base": str(src.parent),
    }
    with atomic_write(folder / ORIGIN_FILE) as fh:
        fh.write((json.dumps(origin, sort_keys=True, indent=2) + "\n").encode("utf-8"))
    return copy


def config_base(path: str | Path) -> Path | None:
    """Return the folder a run directory's config copy resolves its paths against.

    Parameters
    ----------
    path : str or Path
        A config file.

    Returns
    -------
    Path or None
        The original config's folder when ``path`` is a run directory's copy
        (``config.toml`` beside ``config_origin.json``); None otherwise (a config
        resolves its paths against its own folder).

    Raises
    ------
    DataError
        ``config_origin.json`` is damaged (naming it).
    SchemaVersionError
        It was written by a newer version of the library.
    """
    p = Path(path)
    origin = p.parent / ORIGIN_FILE
    if p.name != CONFIG_COPY or not origin.is_file():
        return None
    try:
        data = json.loads(origin.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"cannot read the config copy's origin ({exc}); delete it to resolve the copy's "
            "relative paths against the run directory",
            path=origin,
        ) from exc
    if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
        raise DataError(f"not a {_SCHEMA} record", path=origin, field="schema")
    version = data.get("schema_version")
    if isinstance(version, int) and version > _VERSION:
        raise SchemaVersionError(
            f"written by a newer version (schema_version {version} > {_VERSION}); upgrade",
            found=version,
            supported=_VERSION,
            path=origin,
            field="schema_version",
        )
    base = data.get("base")
    if not isinstance(base, str) or not base:
        raise DataError("expected the original config's folder", path=origin, field="base")
    return Path(base)
