"""``/r/<token>``: the reporter's page (no sign-in, phone-first, Chinese with ``?lang=en``) —
the case's public progress (steps and dates, the result text; never staff names or phones)
and, once resolved, a 1–5 rating with a comment (:func:`intake.citizen.rate`).  Rate-limited
per address; a form token (double-submit cookie) guards the rating."""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, render_template_string, request
from flask_limiter import Limiter

from geo.catalog import CATEGORY_BY_CODE
from geo.workflow import STATE_LABELS
from intake import citizen
from intake.schema import ReportError
from onemap.context import Runtime

FORM_COOKIE = "onemap_rate"
RATE = "60 per minute"
STEP_LABELS = {"receive": ("已受理", "Received"), "dispatch": ("已派单", "Dispatched"),
               "accept": ("已签收", "Accepted"), "start": ("处置中", "In progress"),
               "escalate": ("已上报上级", "Escalated"), "resolve": ("已办结", "Resolved"),
               "rate": ("已评价", "Rated"), "reopen": ("重新办理", "Reopened"),
               "close": ("已归档", "Closed")}

PAGE = """<!doctype html><html lang="{{ 'zh-CN' if zh else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ '办理进度' if zh else 'Progress' }}</title>
<link rel="stylesheet" href="/assets/login.css"></head><body class="om-login-body">
<main class="om-login om-citizen" id="citizen">
<h1>{{ '您反映的问题' if zh else 'Your report' }}</h1>
{% if case %}
<p id="status" class="om-notice">{{ category }} · {{ status }}</p>
<ol class="om-steps" id="steps">{% for s in steps %}<li><b>{{ s.label }}</b>
 <span>{{ s.at }}</span>{% if s.note %}<div>{{ s.note }}</div>{% endif %}</li>{% endfor %}</ol>
{% if message %}<p class="om-notice" id="message">{{ message }}</p>{% endif %}
{% if error %}<p class="om-error" id="error">{{ error }}</p>{% endif %}
{% if can_rate %}
<form method="post" id="rate"><input type="hidden" name="csrf_token" value="{{ form }}">
<label>{{ '请为办理结果评分（1–5）' if zh else 'Rate the result (1–5)' }}
<select name="rating" id="rating">{% for v in [5, 4, 3, 2, 1] %}<option value="{{ v }}">{{ v }}
</option>{% endfor %}</select></label>
<label>{{ '意见（可选）' if zh else 'Comment (optional)' }}<input name="comment" id="comment"
 maxlength="500"></label>
<button type="submit" id="submit">{{ '提交评价' if zh else 'Send' }}</button></form>
{% endif %}
{% else %}
<p class="om-error" id="error">{{ '链接无效或已过期。' if zh
  else 'This link is unknown or expired.' }}</p>
{% endif %}
</main></body></html>"""


def _page(rt: Runtime, token: str, *, status: int = 200, message: str | None = None,
          error: str | None = None) -> Response:
    zh = request.args.get("lang", rt.settings.lang) != "en"
    case = citizen.view(rt, token)
    values: dict[str, Any] = {"zh": zh, "case": case, "message": message, "error": error}
    form = None
    if case is not None:
        tz = ZoneInfo(rt.settings.timezone)
        cat = CATEGORY_BY_CODE.get(case["category"])
        state = STATE_LABELS.get(case["status"], (case["status"], case["status"]))
        values.update(
            category=(cat.zh if zh else cat.en) if cat else case["category"],
            status=state[0] if zh else state[1],
            steps=[{"label": STEP_LABELS[s["action"]][0 if zh else 1],
                    "at": s["at"].astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    "note": s["note"]} for s in case["steps"] if s["action"] in STEP_LABELS],
            can_rate=case["status"] == "resolved")
        if values["can_rate"]:
            form = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(16)
            values["form"] = form
    elif status == 200:
        status = 404
    resp = Response(render_template_string(PAGE, **values), status=status,
                    content_type="text/html; charset=utf-8")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    if form:
        resp.set_cookie(FORM_COOKIE, form, max_age=3600, httponly=True, samesite="Lax",
                        path="/r/", secure=request.is_secure or bool(rt.settings.tls_cert))
    return resp


def register(server: Flask, rt: Runtime, limiter: Limiter) -> None:
    @server.route("/r/<token>", methods=["GET", "POST"])
    @limiter.limit(RATE)
    def _citizen(token: str) -> Response:
        if request.method == "GET":
            return _page(rt, token)
        form = request.cookies.get(FORM_COOKIE)
        if not form or request.form.get("csrf_token") != form:
            return _page(rt, token, status=400, error="页面已过期，请刷新后重试 / the form "
                                                      "expired; reload and try again")
        try:
            rating = int(request.form.get("rating", "0"))
            citizen.rate(rt, token, rating, request.form.get("comment", ""))
        except (ValueError, ReportError) as err:
            status = getattr(err, "status", 400)
            return _page(rt, token, status=status, error=str(err))
        return _page(rt, token, message="感谢您的评价！/ Thank you for your rating.")
