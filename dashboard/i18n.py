"""Interface text in Chinese (default) and English; one dictionary, looked up by key."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "一张图 · 网格化社会治理指挥中心",
              "en": "OneMap · Grid governance command centre"},
    "levels": {"zh": "层级", "en": "Levels"},
    "no_units": {"zh": "尚无网格数据。make run 会自动载入示例数据；或用 onemap db reset 重建。",
                 "en": "No units yet. `make run` loads the sample; `onemap db reset` rebuilds."},
    "db_down": {"zh": "数据库暂不可用，请稍后刷新（onemap db status 查看状态）。",
                "en": "The database is unavailable; refresh shortly (`onemap db status`)."},
    "no_basemap": {"zh": "未配置底图（ONEMAP_BASEMAP_URL），以纯色背景显示。",
                   "en": "No basemap configured (ONEMAP_BASEMAP_URL): plain background."},
    "tiles_down": {"zh": "底图瓦片无法加载，已切换为纯色背景，地图其余功能正常。",
                   "en": "Basemap tiles cannot be loaded; plain background, the map still works."},
    "lang_switch": {"zh": "English", "en": "中文"},
    "wall_on": {"zh": "大屏模式", "en": "Wall mode"},
    "wall_off": {"zh": "退出大屏", "en": "Leave wall mode"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "tour": {"zh": "自动轮巡", "en": "Auto tour"},
    "level": {"zh": "层级", "en": "Level"},
    "measure": {"zh": "指标", "en": "Measure"},
    "window": {"zh": "时间", "en": "Time"},
    "filters": {"zh": "筛选", "en": "Filters"},
    "layers": {"zh": "图层", "en": "Layers"},
    "category": {"zh": "事件类别", "en": "Category"},
    "severity": {"zh": "风险等级", "en": "Severity"},
    "source": {"zh": "来源渠道", "en": "Channel"},
    "status": {"zh": "办理状态", "en": "Status"},
    "all": {"zh": "全部", "en": "All"},
    "today": {"zh": "今日", "en": "Today"},
    "7d": {"zh": "近7天", "en": "7 days"},
    "30d": {"zh": "近30天", "en": "30 days"},
    "custom": {"zh": "自定义", "en": "Custom"},
    "m_incidents": {"zh": "事件数", "en": "Incidents"},
    "m_per_1000_households": {"zh": "每千户事件数", "en": "Incidents per 1,000 households"},
    "m_overdue": {"zh": "超期未办结", "en": "Overdue now"},
    "m_resolution_rate": {"zh": "办结率", "en": "Resolution rate"},
    "m_closed_in_grid": {"zh": "网格内办结占比", "en": "Share closed in the grid"},
    "no_data": {"zh": "无数据", "en": "No data"},
    "l_incidents": {"zh": "事件", "en": "Incidents"},
    "l_density": {"zh": "事件密度（街区级）", "en": "Incident density (street zoom)"},
    "l_households": {"zh": "住户", "en": "Households"},
    "l_cameras": {"zh": "视频监控", "en": "Cameras"},
    "l_workers": {"zh": "网格员", "en": "Grid workers"},
    "kpi_received_today": {"zh": "今日受理", "en": "Received today"},
    "kpi_handled_today": {"zh": "今日办结", "en": "Handled today"},
    "kpi_overdue_now": {"zh": "当前超期", "en": "Overdue now"},
    "kpi_resolution_rate": {"zh": "办结率", "en": "Resolution rate"},
    "kpi_closed_low": {"zh": "网格/村社区内办结", "en": "Closed in grid/village"},
    "latest": {"zh": "最新事件", "en": "Latest incidents"},
    "overdue_list": {"zh": "超期事件", "en": "Overdue incidents"},
    "empty_list": {"zh": "暂无", "en": "None"},
    "whole": {"zh": "全域", "en": "Whole area"},
    "detail": {"zh": "事件详情", "en": "Incident detail"},
    "close": {"zh": "关闭", "en": "Close"},
    "where": {"zh": "位置", "en": "Where"},
    "reason": {"zh": "定位方式", "en": "Placed by"},
    "received_at": {"zh": "受理时间", "en": "Received"},
    "due_at": {"zh": "办理期限", "en": "Due"},
    "worker": {"zh": "责任网格员", "en": "Grid worker"},
    "department": {"zh": "承办部门", "en": "Department"},
    "history": {"zh": "办理过程", "en": "History"},
    "cameras_near": {"zh": "附近视频（最近3路）", "en": "Nearest cameras (3)"},
    "stream": {"zh": "视频流", "en": "stream"},
    "actions": {"zh": "处置操作", "en": "Actions"},
    "note": {"zh": "备注/理由", "en": "Note / reason"},
    "rating": {"zh": "评价", "en": "Rating"},
    "done": {"zh": "已执行", "en": "Done"},
    "overdue_tag": {"zh": "超期", "en": "overdue"},
    "unlocated": {"zh": "未定位", "en": "unlocated"},
    "online": {"zh": "在线", "en": "online"},
    "offline": {"zh": "离线", "en": "offline"},
    "households_n": {"zh": "户", "en": "households"},
    "operator": {"zh": "指挥中心", "en": "Command centre"},
}

LEVEL_NAMES_EN = ("County", "Township / street", "Village / community", "Grid")

# How an incident was placed (intake's reason codes), for the detail panel.
REASON_LABELS = {
    "inside": ("坐标落入网格", "inside the grid"), "edge": ("位于网格边界", "on a grid edge"),
    "gap": ("位于空白区，就近归属", "in a gap, nearest grid"),
    "snapped": ("就近吸附", "snapped to nearest"), "outside": ("辖区外", "outside the area"),
    "address": ("按地址匹配", "matched by address"), "unmatched": ("未能定位", "unmatched"),
}

# History events that are not workflow actions (intake and importers write them).
EVENT_LABELS = {"receive": ("受理", "Received"), "import": ("导入", "Imported"),
                "overdue": ("超期", "Overdue"), "reassign": ("改划网格", "Grid redrawn")}

SEVERITY_LABELS = {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low")}


def t(key: str, lang: str) -> str:
    entry = TEXT[key]
    return entry.get(lang) or entry["zh"]


def pick(pair: tuple[str, str] | None, lang: str, default: str = "") -> str:
    """One of a (zh, en) label pair."""
    if pair is None:
        return default
    return pair[1] if lang == "en" else pair[0]


def level_name(level: int, lang: str, names_zh: tuple[str, ...]) -> str:
    if lang == "en":
        return LEVEL_NAMES_EN[level] if level < len(LEVEL_NAMES_EN) else f"Level {level}"
    return names_zh[level] if level < len(names_zh) else f"第{level}级"
