"""Raw values quoted in error messages: short and escaped.

Errors go to logs and terminals; a value read from an untrusted file (a "record id" that is really
the whole first line of ``/proc/self/environ``, a terminal escape sequence) must never reach them
whole. Every message that quotes raw input goes through :func:`excerpt`.
"""

from __future__ import annotations

LIMIT = 40


def excerpt(value, limit: int = LIMIT, *, quote: bool = True) -> str:
    """``value`` as an ASCII-escaped literal of at most ``limit`` characters of the original."""
    if not isinstance(value, str):
        text = ascii(value)  # already escaped
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
    shown = ascii(value[:limit])  # escape only what is kept, so the cut never splits an escape
    if not quote:
        shown = shown[1:-1]
    if len(value) > limit:
        shown += f"... ({len(value)} chars)"
    return shown
