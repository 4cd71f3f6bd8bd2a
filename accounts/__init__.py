"""People's accounts and what follows from them: actors with scopes, sign-in, sessions,
personal tokens, the audit trail, revealing personal data.  Services over :mod:`store`."""
