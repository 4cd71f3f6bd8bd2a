"""Interface text in Chinese (default) and English; one dictionary, looked up by key."""

from __future__ import annotations

from geo import levels

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
    "logout": {"zh": "退出", "en": "Sign out"},
    "unmask": {"zh": "查看完整联系方式（留痕）", "en": "Reveal contact details (audited)"},
    "unmask_reason": {"zh": "查看原因（必填）", "en": "Reason (required)"},
    "unmask_go": {"zh": "查看", "en": "Reveal"},
    "reporter": {"zh": "上报人", "en": "Reporter"},
    "photos": {"zh": "现场照片", "en": "Photos"},
    "m_departments": {"zh": "职能部门办理情况", "en": "Departments"},
    "wall_on": {"zh": "大屏模式", "en": "Wall mode"},
    "wall_off": {"zh": "退出大屏", "en": "Leave wall mode"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "asof_replica": {"zh": "数据截至 {time}（备库，落后 {lag} 秒）",
                     "en": "data as of {time} (standby, {lag} s behind)"},
    "asof_primary": {"zh": "备库落后过多，读主库",
                     "en": "standby too far behind: reading the primary"},
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

LEVEL_NAMES_EN = tuple(lv.en for lv in levels.LEVELS)

# How an incident was placed (intake's reason codes), for the detail panel.
REASON_LABELS = {
    "inside": ("坐标落入网格", "inside the grid"), "edge": ("位于网格边界", "on a grid edge"),
    "gap": ("位于空白区，就近归属", "in a gap, nearest grid"),
    "snapped": ("就近吸附", "snapped to nearest"), "outside": ("辖区外", "outside the area"),
    "address": ("按地址匹配", "matched by address"), "unmatched": ("未能定位", "unmatched"),
}

# History events that are not workflow actions (intake and importers write them).
EVENT_LABELS = {"receive": ("受理", "Received"), "import": ("导入", "Imported"),
                "overdue": ("超期", "Overdue"), "reassign": ("改划网格", "Grid redrawn"),
                "photo": ("上传照片", "Photo added")}

# The grid planner (/planner).
TEXT.update({
    "p_title": {"zh": "网格规划", "en": "Grid planner"},
    "p_to_wall": {"zh": "指挥大屏", "en": "Command wall"},
    "p_to_planner": {"zh": "网格规划", "en": "Grid planner"},
    "p_village": {"zh": "村（社区）", "en": "Village / community"},
    "p_pick_village": {"zh": "选择或搜索村（社区）…", "en": "Pick or search a village…"},
    "p_selection": {"zh": "已选网格", "en": "Selected grids"},
    "p_none_selected": {"zh": "点击地图上的网格选择；再次点击取消。",
                        "en": "Click grids on the map to select; click again to deselect."},
    "p_clear": {"zh": "清除选择", "en": "Clear selection"},
    "p_tools": {"zh": "编辑", "en": "Edit"},
    "p_edit": {"zh": "调整边界", "en": "Move vertices"},
    "p_redraw": {"zh": "重画边界", "en": "Redraw"},
    "p_split": {"zh": "画线分割", "en": "Split by line"},
    "p_merge": {"zh": "合并所选", "en": "Merge selected"},
    "p_repair": {"zh": "修复拓扑", "en": "Repair topology"},
    "p_create": {"zh": "空白区新建", "en": "New grid in blank area"},
    "p_suggest": {"zh": "建议分割", "en": "Suggest split"},
    "p_parts": {"zh": "份数", "en": "parts"},
    "p_discard": {"zh": "放弃修改", "en": "Discard"},
    "p_finish": {"zh": "完成绘制", "en": "Finish drawing"},
    "p_options": {"zh": "选项", "en": "Options"},
    "p_snap": {"zh": "吸附容差（米）", "en": "Snap tolerance (m)"},
    "p_adjust": {"zh": "相邻网格随之调整", "en": "Neighbours follow the edit"},
    "p_files": {"zh": "QGIS 往返", "en": "QGIS round trip"},
    "p_export": {"zh": "导出", "en": "Export"},
    "p_upload": {"zh": "拖入或点击导入编辑后的文件（GeoJSON / GPKG / Shapefile.zip）",
                 "en": "Drop or click to import an edited file (GeoJSON / GPKG / Shapefile .zip)"},
    "p_tab_preview": {"zh": "校验与影响", "en": "Checks & impact"},
    "p_tab_band": {"zh": "户数超标", "en": "Out of band"},
    "p_tab_history": {"zh": "历史版本", "en": "History"},
    "p_tab_when": {"zh": "时点查询", "en": "Time travel"},
    "p_no_proposal": {"zh": "尚无修改。选择网格后使用左侧工具。",
                      "en": "No change yet. Select a grid and use a tool on the left."},
    "p_valid": {"zh": "校验通过，可以保存。", "en": "Checks passed; ready to save."},
    "p_blocked": {"zh": "存在错误，修正后才能保存。", "en": "Errors remain: fix them to save."},
    "p_existing": {"zh": "原有问题（不影响保存）", "en": "Already there (does not block)"},
    "p_impact": {"zh": "影响预览", "en": "Impact preview"},
    "p_grid": {"zh": "网格", "en": "Grid"},
    "p_households": {"zh": "户", "en": "Households"},
    "p_persons": {"zh": "人", "en": "Persons"},
    "p_cameras": {"zh": "摄像头", "en": "Cameras"},
    "p_workers": {"zh": "网格员", "en": "Workers"},
    "p_open": {"zh": "在办事件", "en": "Open cases"},
    "p_band": {"zh": "户数区间", "en": "Band"},
    "p_under": {"zh": "过少", "en": "too few"},
    "p_within": {"zh": "适中", "en": "within"},
    "p_over": {"zh": "过多", "en": "too many"},
    "p_new": {"zh": "新增", "en": "new"},
    "p_proposed": {"zh": "修改后的边界", "en": "proposed boundary"},
    "p_retired": {"zh": "撤销", "en": "retired"},
    "p_changed": {"zh": "调整", "en": "changed"},
    "p_moved": {"zh": "将改划网格的在办事件", "en": "Open cases that change grid"},
    "p_no_moved": {"zh": "没有在办事件改划网格。", "en": "No open case changes grid."},
    "p_unassigned": {"zh": "修改后不属于任何网格", "en": "Left in no grid"},
    "p_effective": {"zh": "生效日期", "en": "Effective date"},
    "p_actor": {"zh": "操作人", "en": "Planner"},
    "p_note": {"zh": "调整说明", "en": "Reason"},
    "p_save": {"zh": "保存为新版本", "en": "Save as new version"},
    "p_saved": {"zh": "已保存，新版本生效：", "en": "Saved; new version in force: "},
    "p_band_title": {"zh": "户数不在目标区间的网格（点击定位）",
                     "en": "Grids outside the household band (click to open)"},
    "p_band_none": {"zh": "所有网格户数都在目标区间内。", "en": "Every grid is within its band."},
    "p_history_none": {"zh": "本村（社区）尚无边界调整记录。",
                       "en": "No boundary change here yet."},
    "p_compare": {"zh": "对比", "en": "Compare"},
    "p_before": {"zh": "调整前", "en": "Before"},
    "p_after": {"zh": "调整后", "en": "After"},
    "p_close": {"zh": "关闭", "en": "Close"},
    "p_when_help": {"zh": "选择日期，再点击地图（或输入经纬度），查询当时该点属于哪个网格。",
                    "en": "Pick a date, then click the map (or type lon/lat): which grid held "
                          "the point then."},
    "p_query": {"zh": "查询", "en": "Look up"},
    "p_no_grid": {"zh": "该时点此处不属于任何网格。", "en": "No grid held this point then."},
    "p_version": {"zh": "版本", "en": "Version"},
    "p_valid_from": {"zh": "起", "en": "from"},
    "p_valid_to": {"zh": "止", "en": "to"},
    "p_current": {"zh": "至今", "en": "now"},
    "p_conflict": {"zh": "保存冲突", "en": "Save conflict"},
    "p_draw_hint": {"zh": "在地图上点击画线，穿过所选网格，点击最后一点结束。",
                    "en": "Click on the map to draw a line across the selected grid; click "
                          "the last point again to finish."},
    "p_poly_hint": {"zh": "在地图上点击画出网格范围，点击第一点闭合。",
                    "en": "Click on the map to draw the grid; click the first point to close."},
    "p_edit_hint": {"zh": "拖动顶点调整边界；拖动中点增加顶点；右键删除顶点。",
                    "en": "Drag vertices to move them; drag a midpoint to add one; right-click "
                          "to remove one."},
    "p_need_one": {"zh": "请先选择一个网格。", "en": "Select one grid first."},
    "p_need_two": {"zh": "请选择至少两个相邻网格。",
                   "en": "Select at least two neighbouring grids."},
})

# The monthly situation page (/monthly).
TEXT.update({
    "m_title": {"zh": "月度态势图", "en": "Monthly situation map"},
    "m_to_monthly": {"zh": "月度态势", "en": "Monthly map"},
    "m_month": {"zh": "选择月份", "en": "Month"},
    "m_kpi_received": {"zh": "本月受理", "en": "Received"},
    "m_kpi_resolution_rate": {"zh": "办结率", "en": "Resolution rate"},
    "m_kpi_on_time_rate": {"zh": "按期办结率", "en": "On time"},
    "m_kpi_closed_share_grid": {"zh": "网格内办结", "en": "Closed in grid"},
    "m_kpi_closed_share_village": {"zh": "村（社区）内办结", "en": "Closed in village"},
    "m_kpi_closed_share_town": {"zh": "乡镇（街道）内办结", "en": "Closed in town"},
    "m_kpi_new_hot_spots": {"zh": "新增热点网格", "en": "New hot-spot grids"},
    "m_vs_last": {"zh": "环比", "en": "vs last month"},
    "m_trend": {"zh": "近 12 个月", "en": "Last 12 months"},
    "m_unit": {"zh": "单元详情", "en": "Unit"},
    "m_click_unit": {"zh": "点击地图上的单元查看其数字与主要事件类别。",
                     "en": "Click a unit on the map for its numbers and top categories."},
    "m_narrative": {"zh": "本月综述", "en": "Summary"},
    "m_hot": {"zh": "热点（Getis-Ord Gi*）", "en": "Hot spots (Getis-Ord Gi*)"},
    "m_show_hot": {"zh": "显示热点", "en": "Show hot spots"},
    "m_no_data": {"zh": "这个月没有事件数据。", "en": "No incidents in this month."},
    "m_no_months": {"zh": "尚无事件数据：载入示例数据或导入事件后再来。",
                    "en": "No incident data yet: load the demo or import incidents first."},
    "m_top": {"zh": "主要事件类别", "en": "Top categories"},
    "m_hot_new": {"zh": "新增", "en": "new"},
    "m_hot_none": {"zh": "本月没有统计显著的热点。", "en": "No significant hot spot this month."},
    "m_received": {"zh": "受理", "en": "received"},
    "m_resolved": {"zh": "办结", "en": "resolved"},
    "m_households": {"zh": "户", "en": "households"},
    "m_export": {"zh": "导出", "en": "Export"},
})

# geo.planning.KINDS: what a saved boundary change was.
PLAN_KIND_LABELS = {"edit": ("调整边界", "boundary edit"), "split": ("分割", "split"),
                    "merge": ("合并", "merge"), "create": ("新建", "new grid"),
                    "suggest": ("建议分割", "suggested split"),
                    "import": ("文件导入", "file import")}

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
    """A level's name in the page's language (:func:`geo.levels.name`)."""
    return levels.name(level, lang, names_zh)
