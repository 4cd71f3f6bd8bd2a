"""Signing in and staying signed in: passwords with lockout, TOTP (RFC 6238), server-side
sessions with idle and absolute time-outs, forced password change on expiry.

Every outcome is audited (``login.ok``, ``login.failed``, ``login.locked``, ``logout``,
``session.expired``, ``totp.enrol``, ``password.change``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import segno

from accounts.audit import audit
from accounts.service import actor_for
from onemap import crypto, passwords
from onemap.access import ROLES, Actor
from onemap.context import Runtime
from onemap.errors import OneMapError
from store import users as db_users

TOTP_CONTEXT = "app_user.totp_secret"
#: A session's last-seen time is written at most this often (the idle time-out is minutes).
TOUCH_EVERY = timedelta(seconds=30)
ISSUER = "OneMap 一张图"


class LoginFailed(OneMapError):
    """Sign-in refused; ``user_msg`` is shown on the page (Chinese first)."""


@dataclass(frozen=True)
class Login:
    """A password accepted: the user, and what must happen before the session is whole."""

    user: dict[str, Any]
    needs_totp: bool  # enrolled: a code is asked next
    must_enrol_totp: bool  # role requires a second factor the user has not set up
    must_change_password: bool


def _anon(username: str) -> Actor:
    return Actor(kind="user", id=0, name=username, role="anonymous", username=username)


def authenticate(rt: Runtime, username: str, password: str) -> Login:
    """Check a password; count failures and lock after ``lockout_failures``."""
    s = rt.settings
    username = (username or "").strip().lower()
    user = db_users.user(rt.engine, username=username, secrets=True) if username else None
    if user is None:
        passwords.verify(passwords.DUMMY_HASH, password or "")  # same time as a real check
        audit(rt, "login.failed", object_type="user", object_id=username[:64],
              result="failed", actor=_anon(username), detail={"reason": "unknown user"})
        raise LoginFailed("用户名或密码错误 / wrong username or password")
    now = datetime.now(UTC)
    if not user["active"]:
        audit(rt, "login.failed", object_type="user", object_id=username, result="denied",
              actor=_anon(username), detail={"reason": "account disabled"})
        raise LoginFailed("账号已停用，请联系管理员 / this account is disabled")
    if user["locked_until"] is not None and user["locked_until"] > now:
        minutes = max(1, int((user["locked_until"] - now).total_seconds() // 60) + 1)
        audit(rt, "login.failed", object_type="user", object_id=username, result="denied",
              actor=_anon(username), detail={"reason": "locked"})
        raise LoginFailed(f"账号已锁定，请 {minutes} 分钟后再试 / the account is locked; try "
                          f"again in {minutes} min")
    if not passwords.verify(user["password_hash"], password or ""):
        with rt.engine.begin() as conn:
            state = db_users.record_failure(conn, user["id"], s.lockout_failures,
                                            s.lockout_min)
            locked = state["locked_until"] is not None and state["locked_until"] > now
            audit(rt, "login.locked" if locked else "login.failed", object_type="user",
                  object_id=username, result="denied" if locked else "failed", conn=conn,
                  actor=_anon(username), detail={"failures": state["failed_logins"]})
        if locked:
            raise LoginFailed(f"密码连续错误 {s.lockout_failures} 次，账号已锁定 "
                              f"{int(s.lockout_min)} 分钟 / too many failed attempts: the "
                              f"account is locked for {int(s.lockout_min)} min")
        left = s.lockout_failures - state["failed_logins"]
        raise LoginFailed(f"用户名或密码错误（还可尝试 {left} 次）/ wrong username or "
                          f"password ({left} attempts left)")
    if passwords.needs_rehash(user["password_hash"]):
        with rt.engine.begin() as conn:
            db_users.update_user(conn, user["id"], {
                "password_hash": passwords.hash_password(password)})
    expired = user["password_changed_at"] + timedelta(days=s.password_max_age_days) <= now
    role = ROLES.get(user["role"])
    return Login(user=user, needs_totp=bool(user["totp_enabled"]),
                 must_enrol_totp=bool(role and role.needs_totp and not user["totp_enabled"]),
                 must_change_password=bool(user["must_change_password"] or expired))


def _totp(rt: Runtime, user: dict[str, Any]) -> pyotp.TOTP | None:
    secret = crypto.unseal(rt.settings.var_dir, user.get("totp_secret"), TOTP_CONTEXT)
    return pyotp.TOTP(secret) if secret else None


def check_totp(rt: Runtime, user: dict[str, Any], code: str) -> bool:
    """A 6-digit code from the user's authenticator (±30 s), audited when wrong."""
    full = db_users.user(rt.engine, user_id=user["id"], secrets=True)
    totp = _totp(rt, full) if full else None
    ok = bool(totp and code and totp.verify(code.strip(), valid_window=1))
    if not ok:
        with rt.engine.begin() as conn:
            state = db_users.record_failure(conn, user["id"], rt.settings.lockout_failures,
                                            rt.settings.lockout_min)
            audit(rt, "login.failed", object_type="user", object_id=user["username"],
                  result="failed", conn=conn, actor=_anon(user["username"]),
                  detail={"reason": "wrong one-time code",
                          "failures": state["failed_logins"]})
    return ok


def start_enrolment(rt: Runtime, user: dict[str, Any]) -> dict[str, str]:
    """A new TOTP secret (sealed, not yet enabled) and its QR code as an SVG data URI."""
    secret = pyotp.random_base32()
    with rt.engine.begin() as conn:
        db_users.update_user(conn, user["id"], {
            "totp_secret": crypto.seal(rt.settings.var_dir, secret, TOTP_CONTEXT),
            "totp_enabled": False})
    uri = pyotp.TOTP(secret).provisioning_uri(name=user["username"], issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_data_uri(scale=4)
    return {"secret": secret, "uri": uri, "qr": svg}


def confirm_enrolment(rt: Runtime, user: dict[str, Any], code: str) -> bool:
    full = db_users.user(rt.engine, user_id=user["id"], secrets=True)
    totp = _totp(rt, full) if full else None
    if not (totp and code and totp.verify(code.strip(), valid_window=1)):
        return False
    with rt.engine.begin() as conn:
        db_users.update_user(conn, user["id"], {"totp_enabled": True})
        audit(rt, "totp.enrol", object_type="user", object_id=user["username"], conn=conn)
    return True


def change_password(rt: Runtime, user: dict[str, Any], old: str, new: str) -> None:
    full = db_users.user(rt.engine, user_id=user["id"], secrets=True)
    if full is None or not passwords.verify(full["password_hash"], old or ""):
        raise LoginFailed("原密码不正确 / the current password is wrong")
    if old == new:
        raise LoginFailed("新密码不能与原密码相同 / choose a password you have not used now")
    passwords.check(new, full["username"])
    with rt.engine.begin() as conn:
        db_users.update_user(conn, user["id"], {
            "password_hash": passwords.hash_password(new), "must_change_password": False,
            "password_changed_at": datetime.now(UTC)})
        audit(rt, "password.change", object_type="user", object_id=full["username"],
              conn=conn)


# --- sessions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    id: int
    sid: str
    csrf: str
    user: dict[str, Any]
    actor: Actor
    complete: bool  # second factor done (or not needed) and password not due
    second_factor_ok: bool = False
    password_due: bool = False


def start_session(rt: Runtime, login: Login, address: str | None, *,
                  second_factor_ok: bool) -> tuple[str, str]:
    """Open a session after a password (and code) were accepted; returns (sid, csrf)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    actor = actor_for(rt, login.user)
    with rt.engine.begin() as conn:
        db_users.insert_session(conn, login.user["id"], sid, csrf, address, second_factor_ok)
        if second_factor_ok:
            db_users.record_success(conn, login.user["id"])
        audit(rt, "login.ok" if second_factor_ok else "login.password_ok", object_type="user",
              object_id=login.user["username"], conn=conn, actor=actor, address=address)
    return sid, csrf


def complete_second_factor(rt: Runtime, session_id: int, user: dict[str, Any]) -> None:
    with rt.engine.begin() as conn:
        db_users.set_second_factor(conn, session_id)
        db_users.record_success(conn, user["id"])
        audit(rt, "login.ok", object_type="user", object_id=user["username"], conn=conn)


def resume(rt: Runtime, sid: str | None) -> Session | str | None:
    """The session behind a cookie, touched; or the reason it ended (``idle``,
    ``absolute``, ``account``) — audited and closed; or None when there is none."""
    if not sid:
        return None
    found = db_users.session(rt.engine, sid)
    if found is None:
        return None
    now, s = found["now"], rt.settings
    reason = None
    if now - found["last_seen_at"] > timedelta(minutes=s.session_idle_min):
        reason = "idle"
    elif now - found["created_at"] > timedelta(hours=s.session_max_hours):
        reason = "absolute"
    user = db_users.user(rt.engine, user_id=found["user_id"])
    if reason is None and (user is None or not user["active"]):
        reason = "account"
    if reason:
        with rt.engine.begin() as conn:
            db_users.end_session(conn, found["id"], reason)
            audit(rt, "session.expired", object_type="user",
                  object_id=user["username"] if user else None, conn=conn,
                  detail={"reason": reason},
                  actor=_anon(user["username"] if user else "?"))
        return reason
    if now - found["last_seen_at"] > TOUCH_EVERY:  # not a write on every request
        with rt.engine.begin() as conn:
            db_users.touch_session(conn, found["id"])
    expired = user["password_changed_at"] + timedelta(days=s.password_max_age_days) <= now
    role = ROLES.get(user["role"])
    complete = bool(found["second_factor_ok"]) and not (
        user["must_change_password"] or expired) and not (
        role and role.needs_totp and not user["totp_enabled"])
    return Session(id=found["id"], sid=sid, csrf=found["csrf"], user=user,
                   actor=actor_for(rt, user), complete=complete,
                   second_factor_ok=bool(found["second_factor_ok"]),
                   password_due=bool(user["must_change_password"] or expired))


def end(rt: Runtime, session: Session, reason: str = "logout") -> None:
    with rt.engine.begin() as conn:
        db_users.end_session(conn, session.id, reason)
        audit(rt, "logout", object_type="user", object_id=session.user["username"],
              conn=conn, actor=session.actor)


def session_cookie_value(rt: Runtime, sid: str) -> str:
    """The cookie carries the session id signed with var/keys/session.key."""
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(crypto.session_key(rt.settings.var_dir), salt="onemap.session"
                             ).dumps(sid)


def sid_from_cookie(rt: Runtime, value: str | None) -> str | None:
    if not value:
        return None
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        sid = URLSafeSerializer(crypto.session_key(rt.settings.var_dir),
                                salt="onemap.session").loads(value)
    except BadSignature:
        return None
    return sid if isinstance(sid, str) else None


def qr_fallback(secret: str) -> str:
    """The secret grouped for typing by hand when the QR code cannot be scanned."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


