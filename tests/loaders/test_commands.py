"""The `onemap load` command: option parsing, summary, exit status 2 on refusal."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cli.load import options_from_args, register
from onemap.errors import OneMapError
from onemap.settings import Settings
from tests.loaders.files import incidents_frame


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onemap")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _main(settings: Settings, argv: list[str]) -> int:
    """What cli.main does with the command."""
    args = _parser().parse_args(argv)
    try:
        return args.func(settings, args)
    except OneMapError as exc:
        print(f"onemap: error: {exc.user_msg}")
        return 2


def test_options_are_parsed() -> None:
    args = _parser().parse_args([
        "load", "boundaries", "g.shp", "--crs", "EPSG:4543", "--datum", "gcj02", "--level", "3",
        "--map", "code=网格编码", "--map", "name=网格名称", "--allow-overlaps", "--dry-run"])
    opts = options_from_args(args)
    assert (opts.crs, opts.datum, opts.level, opts.allow_overlaps, opts.dry_run) == (
        "EPSG:4543", "gcj02", 3, True, True)
    assert dict(opts.mapping) == {"code": "网格编码", "name": "网格名称"}
    args = _parser().parse_args(["load", "incidents", "a.xlsx", "--source", "12345",
                                 "--sheet", "工单", "--snap-m", "0", "--allow-unlocated"])
    opts = options_from_args(args)
    assert (opts.source, opts.sheet, opts.snap_m, opts.allow_unlocated) == (
        "12345", "工单", 0.0, True)


@pytest.mark.db
def test_command_prints_summary_and_refuses_with_2(
        db_engine: Engine, db_url: str, settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    test_settings = settings.with_(database_url=db_url)
    path = tmp_path / "cli.csv"
    frame = incidents_frame(50, seed=9, prefix="CLI")
    frame.loc[3, "事件类型"] = "不存在的类型"
    frame.loc[4, "工单编号"] = None
    frame.to_csv(path, index=False)
    assert _main(test_settings, ["load", "incidents", str(path), "--dry-run",
                                 "--source", "12345"]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN" in out and "new 49" in out and "rejected 1" in out
    assert "row 6, 工单编号: missing" in out
    # A category the catalogue does not know is kept as 'other' — and said, with its count.
    assert "stored as 'other': 不存在的类型 ×1" in out
    assert "assigned: inside" in out
    with db_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM incident WHERE external_id LIKE 'CLI%'")
                         ).scalar() == 0
    assert _main(test_settings, ["load", "incidents", str(path), "--source", "fax"]) == 2
    assert "--source 'fax' is not a channel" in capsys.readouterr().out
    assert _main(test_settings, ["load", "boundaries", str(tmp_path / "none.shp")]) == 2
    assert "File not found" in capsys.readouterr().out
