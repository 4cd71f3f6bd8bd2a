"""Settings: parsing, precedence, clear errors, and every setting documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from onemap.errors import ConfigError
from onemap.settings import PROJECT_ROOT, REGISTRY, load_settings


def test_defaults_are_the_embedded_cluster_on_its_own_port():
    settings = load_settings({})
    assert settings.embedded
    assert settings.pg_port == 54329
    assert (settings.host, settings.port) == ("127.0.0.1", 8050)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.lang == "zh"
    assert settings.level_names == ()  # the levels' own names (geo.levels)
    assert settings.levels == ("county", "town", "village", "grid")


def test_levels_are_one_of_two_sets_and_never_from_the_file(tmp_path):
    five = load_settings({"ONEMAP_LEVELS": "city, county,town,village,grid"})
    assert five.levels == ("city", "county", "town", "village", "grid")
    with pytest.raises(ConfigError, match="ONEMAP_LEVELS.*not a level set"):
        load_settings({"ONEMAP_LEVELS": "county,grid"})
    config = tmp_path / "onemap.yaml"
    config.write_text("levels: city,county,town,village,grid\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="environment only"):
        load_settings({"ONEMAP_CONFIG": str(config)})


def test_environment_overrides_and_parses():
    settings = load_settings({"ONEMAP_PG_PORT": "55000", "ONEMAP_LEVEL_NAMES": "区, 街道, 社区",
                              "DATABASE_URL": "postgresql://u:p@db:5432/x"})
    assert settings.pg_port == 55000
    assert settings.level_names == ("区", "街道", "社区")
    assert not settings.embedded


@pytest.mark.parametrize(("env", "value"), [("ONEMAP_PG_PORT", "abc"), ("ONEMAP_PORT", "70000"),
                                            ("ONEMAP_LANG", "fr"),
                                            ("ONEMAP_BASEMAP_DATUM", "bd09")])
def test_bad_values_name_the_variable(env, value):
    with pytest.raises(ConfigError, match=env):
        load_settings({env: value})


def test_yaml_file_then_environment(tmp_path: Path):
    config = tmp_path / "onemap.yml"
    config.write_text("pg_port: 54400\nlang: en\nport: 9000\n", encoding="utf-8")
    settings = load_settings({"ONEMAP_CONFIG": str(config), "ONEMAP_PORT": "9100"})
    assert (settings.pg_port, settings.lang, settings.port) == (54400, "en", 9100)


def test_yaml_unknown_key_is_reported(tmp_path: Path):
    config = tmp_path / "onemap.yml"
    config.write_text("pg_prot: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pg_prot"):
        load_settings({"ONEMAP_CONFIG": str(config)})


def test_every_setting_is_documented_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.env for s in REGISTRY if f"`{s.env}`" not in readme]
    assert missing == [], f"document these settings in README.md: {missing}"
