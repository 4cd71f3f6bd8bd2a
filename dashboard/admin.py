"""The administrators' pages: ``/admin/users`` (accounts, for ``user.manage``) and
``/admin/audit`` (the trail, for ``audit.read``, with a CSV export).  Plain forms; every POST
carries the session's CSRF token (checked by the guard) and every change goes through
:mod:`accounts.service`, which audits it."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, render_template_string, request

from accounts.audit import audit
from accounts.service import (
    add_user,
    change,
    issue_token,
    list_users,
    lock,
    reset_password,
    unlock,
)
from onemap.access import ROLES, USER_ROLES
from onemap.context import Runtime
from onemap.errors import OneMapError
from store import audit as db_audit

PAGE_SIZE = 100

HEAD = """<!doctype html><html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><link rel="stylesheet" href="/assets/login.css"></head>
<body class="om-login-body"><div class="om-admin">
<nav><b>一张图 OneMap</b> · <a href="/admin/users?lang={{ lang }}">{{ L('用户管理', 'Users') }}</a>
<a href="/admin/audit?lang={{ lang }}">{{ L('审计日志', 'Audit trail') }}</a>
<a href="?lang={{ 'en' if lang == 'zh' else 'zh' }}">{{ 'English' if lang == 'zh' else '中文' }}</a>
<a href="/logout">{{ L('退出', 'Sign out') }}</a> <span>{{ who }}</span></nav>
{% if message %}<p class="om-notice" id="message">{{ message }}</p>{% endif %}
{% if error %}<p class="om-error" id="error">{{ error }}</p>{% endif %}
{% if secret %}<p class="om-secret-box" id="secret">{{ secret }}</p>{% endif %}"""

USERS = HEAD + """<h1>{{ L('用户管理', 'Users') }}</h1>
<form method="post" id="add-user"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="op" value="add">
<input name="username" placeholder="{{ L('用户名', 'username') }}" required>
<input name="display_name" placeholder="{{ L('姓名', 'name') }}">
<select name="role">{% for r in roles %}<option value="{{ r.code }}">{{ r.code }} {{
  r.zh if lang == 'zh' else r.en }}</option>{% endfor %}</select>
<input name="unit" placeholder="{{ L('所属单元编码', 'home unit code') }}">
<input name="department" placeholder="{{ L('部门编码', 'department code') }}">
<input name="password" type="password" placeholder="{{ L('初始密码', 'first password') }}" required>
<button>{{ L('新增用户', 'Add user') }}</button></form>
<table id="users"><tr><th>{{ L('用户名', 'Username') }}</th><th>{{ L('姓名', 'Name') }}</th>
<th>{{ L('角色', 'Role') }}</th><th>{{ L('所属单元', 'Home unit') }}</th>
<th>{{ L('状态', 'State') }}</th><th>{{ L('双因素', '2FA') }}</th>
<th>{{ L('最近登录', 'Last sign-in') }}</th><th></th></tr>
{% for u in users %}<tr><td>{{ u.username }}</td><td>{{ u.display_name }}</td>
<td>{{ u.role_label }}</td><td>{{ L('全域', 'whole jurisdiction') if u.unit_code == '*'
  else (u.unit_code or L('全部', 'all')) }}</td>
<td>{{ L('启用', 'active') if u.active else L('停用', 'disabled') }}{% if u.locked %} · {{
  L('已锁定', 'locked') }}{% endif %}</td><td>{{ '✓' if u.totp_enabled else '' }}</td>
<td>{{ u.last_login or '' }}</td><td>
{% for op, label in ops(u) %}<form method="post" class="om-inline">
<input type="hidden" name="csrf_token" value="{{ csrf }}"><input type="hidden" name="op"
 value="{{ op }}"><input type="hidden" name="username" value="{{ u.username }}">
<button>{{ label }}</button></form>{% endfor %}
<form method="post" class="om-inline"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="op" value="role"><input type="hidden" name="username"
 value="{{ u.username }}"><select name="role">{% for r in roles %}<option value="{{ r.code }}"
 {{ 'selected' if r.code == u.role else '' }}>{{ r.code }}</option>{% endfor %}</select>
<button>{{ L('改角色', 'Set role') }}</button></form></td></tr>{% endfor %}</table>
</div></body></html>"""

AUDIT = HEAD + """<h1>{{ L('审计日志', 'Audit trail') }}</h1>
<form method="get" id="filters"><input type="hidden" name="lang" value="{{ lang }}">
<input name="actor" value="{{ f.actor or '' }}" placeholder="{{ L('操作人', 'actor') }}">
<input name="action" value="{{ f.action or '' }}" placeholder="{{ L('动作', 'action') }}">
<input name="object" value="{{ f.object or '' }}" placeholder="{{ L('对象编号', 'object id') }}">
<input name="since" type="date" value="{{ f.since or '' }}">
<input name="until" type="date" value="{{ f.until or '' }}">
<button>{{ L('查询', 'Filter') }}</button>
<a href="/admin/audit.csv?{{ query }}">CSV</a></form>
<table id="audit"><tr><th>#</th><th>{{ L('时间', 'Time') }}</th><th>{{ L('操作人', 'Actor') }}</th>
<th>{{ L('角色', 'Role') }}</th><th>{{ L('地址', 'Address') }}</th>
<th>{{ L('动作', 'Action') }}</th><th>{{ L('对象', 'Object') }}</th>
<th>{{ L('结果', 'Result') }}</th><th>{{ L('详情', 'Detail') }}</th></tr>
{% for r in rows %}<tr><td>{{ r.id }}</td><td>{{ r.at }}</td><td>{{ r.actor }}</td>
<td>{{ r.role or '' }}</td><td>{{ r.address or '' }}</td><td>{{ r.action }}</td>
<td>{{ r.object_type or '' }} {{ r.object_id or '' }}</td><td>{{ r.result }}</td>
<td>{{ r.detail or '' }}</td></tr>{% else %}<tr><td colspan="9">{{ L('无记录', 'No rows') }}</td>
</tr>{% endfor %}</table>
{% if more %}<p><a href="?{{ next_query }}">{{ L('下一页', 'Next page') }}</a></p>{% endif %}
</div></body></html>"""


def _lang(rt: Runtime) -> str:
    lang = request.args.get("lang")
    return lang if lang in ("zh", "en") else rt.settings.lang


def _render(rt: Runtime, template: str, **values: Any) -> Response:
    lang = _lang(rt)
    actor = g.onemap_actor
    html = render_template_string(
        template, lang=lang, L=lambda zh, en: zh if lang == "zh" else en,
        who=f"{actor.name} ({actor.role})", csrf=g.onemap_session.csrf, **values)
    resp = Response(html, content_type="text/html; charset=utf-8")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _local(rt: Runtime, value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(rt.settings.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _user_op(rt: Runtime) -> tuple[str | None, str | None, str | None]:
    """Run the posted operation; (message, error, secret shown once)."""
    actor_rt = rt.acting_as(g.onemap_actor, request.remote_addr)
    form = request.form
    op, username = form.get("op"), form.get("username", "")
    try:
        if op == "add":
            add_user(actor_rt, username, role=form.get("role", ""),
                     password=form.get("password", ""),
                     display_name=form.get("display_name", ""),
                     unit_code=form.get("unit") or None,
                     department=form.get("department") or None, must_change=True)
            return f"已新增 / added: {username}", None, None
        if op == "lock":
            lock(actor_rt, username)
        elif op == "unlock":
            unlock(actor_rt, username)
        elif op == "role":
            change(actor_rt, username, role=form.get("role", ""))
        elif op == "reset":
            password = reset_password(actor_rt, username)
            return f"已重置 / reset: {username}", None, password
        elif op == "token":
            return (f"个人令牌（仅显示一次）/ token (shown once): {username}", None,
                    issue_token(actor_rt, username, 90))
        else:
            return None, f"unknown operation {op!r}", None
        return f"已更新 / updated: {username}", None, None
    except OneMapError as err:
        return None, err.user_msg, None


def _audit_filters(rt: Runtime) -> dict[str, Any]:
    args = request.args
    tz = ZoneInfo(rt.settings.timezone)

    def day(name: str) -> datetime | None:
        raw = args.get(name)
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=tz) if raw else None
        except ValueError:
            return None
    until = day("until")
    return {"actor": args.get("actor") or None, "action": args.get("action") or None,
            "object_id": args.get("object") or None, "since": day("since"),
            "until": until + timedelta(days=1) if until else None}


def register(server: Flask, rt: Runtime) -> None:
    @server.route("/admin/users", methods=["GET", "POST"])
    def admin_users() -> Response:
        message = error = secret = None
        if request.method == "POST":
            message, error, secret = _user_op(rt)
        lang = _lang(rt)
        actor_rt = rt.acting_as(g.onemap_actor, request.remote_addr)
        now = datetime.now(ZoneInfo("UTC"))
        users = [{**u, "role_label": u["role"] + " " + (
                      u["role_zh"] if lang == "zh" else ROLES[u["role"]].en),
                  "locked": u["locked_until"] is not None and u["locked_until"] > now,
                  "last_login": _local(rt, u["last_login_at"])}
                 for u in list_users(actor_rt)]

        def ops(u: dict[str, Any]) -> list[tuple[str, str]]:
            zh = lang == "zh"
            out = [("unlock", "启用/解锁" if zh else "Unlock")] if (
                not u["active"] or u["locked"]) else [("lock", "停用" if zh else "Disable")]
            return out + [("reset", "重置密码" if zh else "Reset password"),
                          ("token", "发放令牌" if zh else "Issue token")]
        return _render(rt, USERS, title="用户管理 / Users", users=users,
                       roles=[ROLES[r] for r in USER_ROLES], ops=ops, message=message,
                       error=error, secret=secret)

    @server.get("/admin/audit")
    def admin_audit() -> Response:
        page = max(0, request.args.get("page", 0, type=int))
        filters = _audit_filters(rt)
        found = db_audit.search(rt.engine, **filters, limit=PAGE_SIZE + 1,
                                offset=page * PAGE_SIZE)
        rows = [{**r, "at": _local(rt, r["at"])} for r in found[:PAGE_SIZE]]
        args = {k: v for k, v in request.args.items() if k != "page"}
        query = "&".join(f"{k}={v}" for k, v in args.items())
        return _render(rt, AUDIT, title="审计日志 / Audit trail", rows=rows,
                       f={"actor": request.args.get("actor"),
                          "action": request.args.get("action"),
                          "object": request.args.get("object"),
                          "since": request.args.get("since"),
                          "until": request.args.get("until")},
                       query=query, more=len(found) > PAGE_SIZE,
                       next_query=f"{query}&page={page + 1}", message=None, error=None,
                       secret=None)

    @server.get("/admin/audit.csv")
    def admin_audit_csv() -> Response:
        filters = _audit_filters(rt)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "at", "actor", "role", "address", "action", "object_type",
                         "object_id", "result", "detail"])
        for r in db_audit.search(rt.engine, **filters, limit=100_000):
            writer.writerow([r["id"], r["at"].isoformat(), r["actor"], r["role"], r["address"],
                             r["action"], r["object_type"], r["object_id"], r["result"],
                             r["detail"]])
        actor = g.onemap_actor
        writer.writerow([])
        stamp = datetime.now(ZoneInfo(rt.settings.timezone)).isoformat(timespec="seconds")
        writer.writerow([f"# exported by {actor.label} at {stamp}"])
        audit(rt.acting_as(actor, request.remote_addr), "export.download",
              object_type="audit_log", detail={"filters": {k: str(v) for k, v in
                                                           filters.items() if v}})
        return Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=audit.csv"})

