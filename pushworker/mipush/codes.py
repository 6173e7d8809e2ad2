"""The classification of every Xiaomi Push failure (response code, HTTP status, transport) as data.

Each failure maps to exactly one `Category`, and the category decides the handling:

* TRANSIENT       retry soon, with jittered exponential backoff (server busy, network, 5xx).
* THROTTLED       retry later, with a longer base delay (rate limits).
* QUOTA           do not retry before tomorrow (daily quota exhausted).
* INVALID_TARGET  never retry; the device/alias is gone, deactivate it.
* CONFIGURATION   never retry; alert a human (bad secret, bad package, blacklisted app, bad host).
* BAD_REQUEST     never retry; the request itself is wrong (parameters, lengths, unknown codes).

Sources: mipush-api.md §6.2 (the official table, the JAVA SDK's older list, and the
recommendation there, which this table follows wherever it gives one).

**Unknown codes are BAD_REQUEST** (`UNKNOWN_CODE_CATEGORY`). A code we have never seen carries no
promise that repeating the request helps; retrying it would hammer Xiaomi and, if the request had in
fact been acted on, duplicate a notification on the user's phone. Never retrying it surfaces the
code to a human instead (the client logs a warning naming it), who can then add it to this table.
The price is that a genuinely transient new code fails one delivery instead of retrying it.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Category(StrEnum):
    """How a failure is handled; one exception class per category (see errors.py)."""

    TRANSIENT = "transient"
    THROTTLED = "throttled"
    QUOTA = "quota"
    INVALID_TARGET = "invalid_target"
    CONFIGURATION = "configuration"
    BAD_REQUEST = "bad_request"


class Condition(StrEnum):
    """Failures that carry no Xiaomi code: transport errors and unusable HTTP responses."""

    CONNECT_ERROR = "connect_error"
    CONNECT_TIMEOUT = "connect_timeout"
    POOL_TIMEOUT = "pool_timeout"
    WRITE_ERROR = "write_error"
    WRITE_TIMEOUT = "write_timeout"
    READ_TIMEOUT = "read_timeout"
    CONNECTION_RESET = "connection_reset"
    NETWORK_ERROR = "network_error"
    HTTP_5XX = "http_5xx"
    NON_JSON_BODY = "non_json_body"
    BAD_ENDPOINT = "bad_endpoint"
    LOCAL_PROTOCOL_ERROR = "local_protocol_error"


_T, _TH, _Q = Category.TRANSIENT, Category.THROTTLED, Category.QUOTA
_IT, _CF, _BR = Category.INVALID_TARGET, Category.CONFIGURATION, Category.BAD_REQUEST

UNKNOWN_CODE_CATEGORY: Final = Category.BAD_REQUEST

CODE_CATEGORIES: Final = MappingProxyType(
    {
        # Server-side failures: the recommendation lists these as retryable.
        -1: _T,  # unknown error
        1: _T,  # internal error
        10001: _T,  # system error
        10002: _T,  # system busy
        10003: _T,  # remote service error
        10009: _T,  # system busy (JAVA list)
        20607: _T,  # DB error
        22102: _T,  # sending the app notification failed (server side)
        26003: _T,  # internal push call failed
        65029: _T,  # remote service exception
        20215: _T,  # subscribe failed (server side)
        20216: _T,  # unsubscribe failed (server side)
        # Rate limits: retryable, with a longer backoff.
        10022: _TH,  # IP request frequency over limit (JAVA list)
        10023: _TH,  # user request frequency over limit (JAVA list)
        10024: _TH,  # API request frequency over limit (JAVA list)
        10027: _TH,  # app API calls too frequent
        10028: _TH,  # too many total API calls (JAVA list)
        10030: _TH,  # fetching invalid regids too often
        10032: _TH,  # fetching invalid aliases too often
        10039: _TH,  # stats/trace queried too often
        21303: _TH,  # restricted request (a QPS-breach candidate per §7)
        26004: _TH,  # broadcast too frequent
        26005: _TH,  # account setting too frequent
        # Daily quotas: not before tomorrow.
        10034: _Q,  # too many messages today
        200001: _Q,  # daily quota exceeded
        # The target cannot be reached: deactivate it.
        10029: _IT,  # invalid device
        20301: _IT,  # send failed, "No valid targets!" (alias/regid not registered)
        65003: _IT,  # device not found
        # The app's set-up is wrong: alert.
        10004: _CF,  # IP limit (IP not allowed to call; JAVA list)
        10026: _CF,  # app blacklisted (JAVA list)
        10031: _CF,  # app blacklisted, cannot send
        10033: _CF,  # app blacklisted for feedback
        10036: _CF,  # app operation forbidden
        10038: _CF,  # app barred from stats/trace
        21301: _CF,  # authentication failed (bad app secret)
        21302: _CF,  # token authentication failed
        22000: _CF,  # illegal app
        22001: _CF,  # app does not exist (JAVA list)
        22002: _CF,  # app revoked (JAVA list)
        22006: _CF,  # bad app id
        22007: _CF,  # bad app key
        22008: _CF,  # bad app secret (JAVA list)
        22022: _CF,  # bad package name
        # Sending needs review: an account-level state, repeating would queue duplicates.
        26006: _CF,
        27001: _CF,  # channel info mismatch (channel_id not registered with Xiaomi)
        66108: _CF,  # package-name problem
        # The request is wrong: never retry.
        10008: _BR,  # bad parameter
        10012: _BR,  # illegal request
        10016: _BR,  # missing required parameter
        10017: _BR,  # illegal parameter value
        10035: _BR,  # no more invalid aliases (feedback; not a send failure)
        10037: _BR,  # request expired: the same request would expire again
        20209: _BR,  # invalid topic
        20315: _BR,  # delete broadcast failed (cause undocumented; usually the message is gone)
        21305: _BR,  # missing required parameter
        65006: _BR,  # alias set too often (a client-side operation, not a send)
        65007: _BR,  # alias blacklisted; kept out of INVALID_TARGET, whose handling is destructive
        65008: _BR,  # alias too long
        65009: _BR,  # message content too long
        65010: _BR,  # topic too long
        65011: _BR,  # parameter not provided ("Title or Description is empty!")
        65012: _BR,  # alias empty
        65013: _BR,  # topic empty
        65014: _BR,  # too many key/values
        65015: _BR,  # key/values total too long
        65016: _BR,  # user account empty
        65017: _BR,  # user account too long
        65028: _BR,  # message not found
        65030: _BR,  # JSON build error
        65035: _BR,  # too many topics
        65036: _BR,  # callback param too long
        65037: _BR,  # callback url too long
        65038: _BR,  # callback url invalid
        65040: _BR,  # unregister failed
        65041: _BR,  # ImeiMd5 empty
    }
)

CONDITION_CATEGORIES: Final = MappingProxyType(
    {
        Condition.CONNECT_ERROR: _T,
        Condition.CONNECT_TIMEOUT: _T,
        Condition.POOL_TIMEOUT: _T,
        Condition.WRITE_ERROR: _T,
        Condition.WRITE_TIMEOUT: _T,
        Condition.READ_TIMEOUT: _T,
        Condition.CONNECTION_RESET: _T,
        Condition.NETWORK_ERROR: _T,
        Condition.HTTP_5XX: _T,
        Condition.NON_JSON_BODY: _T,
        Condition.BAD_ENDPOINT: _CF,  # unsupported scheme, invalid URL: a settings problem
        Condition.LOCAL_PROTOCOL_ERROR: _BR,  # httpx refused to put our request on the wire
    }
)

# Non-2xx statuses that carry no Xiaomi code (Xiaomi itself answers errors with HTTP 200 + code).
# 5xx is Condition.HTTP_5XX; any other status not listed here is BAD_REQUEST.
HTTP_STATUS_CATEGORIES: Final = MappingProxyType(
    {
        401: _CF,  # something other than Xiaomi refused the credentials (proxy, wrong host)
        403: _CF,
        404: _CF,  # wrong base URL or path
        405: _CF,
        408: _T,  # request timeout at a proxy
        429: _TH,
    }
)


def category_for_code(code: int) -> Category:
    """The category of a non-zero Xiaomi `code`; unknown codes get `UNKNOWN_CODE_CATEGORY`."""
    if code == 0:
        raise ValueError("code 0 means success; it has no failure category")
    return CODE_CATEGORIES.get(code, UNKNOWN_CODE_CATEGORY)


def is_known_code(code: int) -> bool:
    """Whether `code` is in the table (unknown codes are logged as a warning by the client)."""
    return code in CODE_CATEGORIES


def category_for_http_status(status: int) -> Category:
    """The category of a non-2xx HTTP status whose body carried no Xiaomi code."""
    if status >= 500:
        return CONDITION_CATEGORIES[Condition.HTTP_5XX]
    if 300 <= status < 400:
        return Category.CONFIGURATION  # redirects are not followed: the base URL is wrong
    return HTTP_STATUS_CATEGORIES.get(status, Category.BAD_REQUEST)
