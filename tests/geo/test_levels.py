"""The registry of levels is the one mapping of depth, key, column and names."""

from __future__ import annotations

import pytest

from geo import levels
from geo.workflow import COUNTY, GRID
from onemap.settings import DEFAULT_LEVEL_NAMES
from store.measures import UNIT_COLUMNS


def test_registry_agrees_with_settings_workflow_and_store() -> None:
    assert levels.DEFAULT_NAMES_ZH == DEFAULT_LEVEL_NAMES
    assert (COUNTY, GRID) == (levels.TOP, levels.BOTTOM)
    assert UNIT_COLUMNS == levels.LEVEL_COLUMNS
    assert [lv.depth for lv in levels.LEVELS] == list(range(len(levels.LEVELS)))


def test_parse_and_name() -> None:
    assert levels.parse_level("town") == 1 and levels.parse_level("3") == 3
    with pytest.raises(levels.LevelError, match="not a level"):
        levels.parse_level("province")
    with pytest.raises(levels.LevelError, match="does not exist"):
        levels.parse_level(7)
    assert levels.name(1, "en") == "Township / street"
    assert levels.name(0, "zh", ("市", "区")) == "市"
    assert levels.as_json()[3] == {"depth": 3, "key": "grid", "column": "grid_id",
                                   "zh": "网格", "en": "Grid"}


def test_the_four_level_registry_has_no_city_and_every_column_is_named() -> None:
    assert levels.CITY is None and levels.ACTIVE_KEYS == ("county", "town", "village", "grid")
    assert levels.ALL_COLUMNS == ("city_id", "county_id", "town_id", "village_id", "grid_id")
    assert levels.unit_columns({0: 7, 3: 9}) == {
        "city_id": None, "county_id": 7, "town_id": None, "village_id": None, "grid_id": 9}
    with pytest.raises(levels.LevelError, match="not a level"):
        levels.parse_level("city")  # not in this deployment


def test_a_five_level_registry_puts_the_city_on_top() -> None:
    five = levels.registry(("city", "county", "town", "village", "grid"))
    assert [(lv.depth, lv.key, lv.column) for lv in five][:2] == [
        (0, "city", "city_id"), (1, "county", "county_id")]
    assert five[-1].depth == 4 and five[0].zh == "市(州)" and five[0].en == "City"


def test_the_runtime_refuses_names_or_levels_that_do_not_fit_the_process() -> None:
    from onemap.errors import ConfigError
    from onemap.settings import Settings
    from store.runtime import check_levels

    check_levels(Settings(level_names=("区", "街道", "社区", "网格")))
    check_levels(Settings())
    assert levels.name(0) == "县(市/区/旗)" and levels.name(0, "zh", ()) == "县(市/区/旗)"
    with pytest.raises(ConfigError, match="gives 2 name.*has 4 levels"):
        check_levels(Settings(level_names=("市", "区")))
    with pytest.raises(ConfigError, match="started with county,town,village,grid"):
        check_levels(Settings(levels=("city", "county", "town", "village", "grid")))


def test_deadline_days_by_key_or_depth_skip_a_level_the_deployment_lacks() -> None:
    from geo.deadlines import DeadlineError, level_days

    assert level_days((("grid", 0), ("village", 3), ("town", 5), ("county", 7),
                       ("city", 10))) == {3: 0, 2: 3, 1: 5, 0: 7}
    assert level_days((("3", 1), ("0", 9))) == {3: 1, 0: 9}  # the old depth form
    with pytest.raises(DeadlineError, match="province"):
        level_days((("province", 3),))
    with pytest.raises(DeadlineError, match="does not exist"):
        level_days((("4", 3),))
