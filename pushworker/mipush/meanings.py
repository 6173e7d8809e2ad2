"""What each Xiaomi Push response code means, in a few words, for people reading the records.

The wording follows the comments of the code table (codes.py, sourced from mipush-api.md §6.2);
a unit test keeps the two tables covering the same codes.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

CODE_MEANINGS: Final = MappingProxyType(
    {
        -1: "unknown error",
        1: "internal error",
        10001: "system error",
        10002: "system busy",
        10003: "remote service error",
        10009: "system busy",
        20607: "Xiaomi database error",
        22102: "sending the app notification failed",
        26003: "internal push call failed",
        65029: "remote service exception",
        20215: "subscribe failed",
        20216: "unsubscribe failed",
        10022: "IP request rate over limit",
        10023: "user request rate over limit",
        10024: "API request rate over limit",
        10027: "app API calls too frequent",
        10028: "too many total API calls",
        10030: "invalid regids fetched too often",
        10032: "invalid aliases fetched too often",
        10039: "stats/trace queried too often",
        21303: "restricted request",
        26004: "broadcast too frequent",
        26005: "account setting too frequent",
        10034: "too many messages today",
        200001: "daily quota exceeded",
        10029: "invalid device",
        20301: "no valid targets (alias/regid not registered)",
        65003: "device not found",
        10004: "IP not allowed to call",
        10026: "app blacklisted",
        10031: "app blacklisted, cannot send",
        10033: "app blacklisted for feedback",
        10036: "app operation forbidden",
        10038: "app barred from stats/trace",
        21301: "authentication failed (bad app secret)",
        21302: "token authentication failed",
        22000: "illegal app",
        22001: "app does not exist",
        22002: "app revoked",
        22006: "bad app id",
        22007: "bad app key",
        22008: "bad app secret",
        22022: "bad package name",
        26006: "sending needs review",
        27001: "channel not registered with Xiaomi",
        66108: "package-name problem",
        10008: "bad parameter",
        10012: "illegal request",
        10016: "missing required parameter",
        10017: "illegal parameter value",
        10035: "no more invalid aliases",
        10037: "request expired",
        20209: "invalid topic",
        20315: "delete broadcast failed",
        21305: "missing required parameter",
        65006: "alias set too often",
        65007: "alias blacklisted",
        65008: "alias too long",
        65009: "message content too long",
        65010: "topic too long",
        65011: "title or description empty",
        65012: "alias empty",
        65013: "topic empty",
        65014: "too many key/values",
        65015: "key/values too long in total",
        65016: "user account empty",
        65017: "user account too long",
        65028: "message not found",
        65030: "JSON build error",
        65035: "too many topics",
        65036: "callback parameter too long",
        65037: "callback URL too long",
        65038: "callback URL invalid",
        65040: "unregister failed",
        65041: "ImeiMd5 empty",
    }
)


def meaning(code: int | None) -> str:
    """A short meaning of ``code``; codes outside the table say so instead of guessing."""
    if code is None:
        return ""
    return CODE_MEANINGS.get(code, "code not in pushworker's table")
