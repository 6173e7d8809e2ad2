"""The queries bench/db_scale.py measures: docs/queries.md's hot-path, purge and admin queries.

Written against the generic delivery row of migration 0007 (``kind``, ``recipient_id``,
``subject_id``, JSON ``payload``), as pushworker/store/records.py, outbox.py, purge.py and the admin
(pushworker/web/admin/deliveries.py, filters.py) query it.
"""

from __future__ import annotations

# The hot-path queries as the ORM sends them (docs/queries.md), with %(name)s parameters.
# ``write`` ones run inside a transaction that is rolled back.
QUERIES: list[tuple[str, str, bool]] = [
    (
        "enqueue: get_or_create by event_id",
        "SELECT id, status FROM pushworker_delivery WHERE event_id = %(event_id)s",
        False,
    ),
    (
        "enqueue: insert one delivery",
        "INSERT INTO pushworker_delivery (event_id, kind, app_name, recipient_id, subject_id, "
        "payload, status, published_at, attempts, crashes, retries, possible_duplicate, "
        "redelivered, message_id, trace_id, error_category, error_reason, created_at, updated_at, "
        "claimed_by) "
        "VALUES (%(new_event_id)s, 'goods_visit', 'qqc', 'u1', 'g1', '{\"visitor_id\": \"v1\", "
        '"goods_id": "g1", "goods_name": "碗", "visitor_name": null}\', \'queued\', now(), '
        "0, 0, 0, false, false, '', '', '', '', now(), now(), '')",
        True,
    ),
    (
        "claim: conditional UPDATE by pk",
        "UPDATE pushworker_delivery SET status = 'sending', claimed_at = now(), updated_at = now() "
        "WHERE id = %(id)s AND status IN ('queued', 'retrying')",
        True,
    ),
    (
        "history: attempts of one delivery",
        "SELECT id, group_key, status FROM pushworker_deliveryattempt WHERE delivery_id = %(id)s",
        False,
    ),
    (
        "start attempt: insert one attempt",
        "INSERT INTO pushworker_deliveryattempt (delivery_id, group_key, platform, environment, "
        "target_type, targets, status, message_id, trace_id, error_category, error_reason, "
        "started_at) VALUES (%(id)s, 'android/production/alias:QQC_1', 'android', 'production', "
        "'alias', 'QQC_1', 'sending', '', '', '', '', now())",
        True,
    ),
    (
        "finish: UPDATE by pk",
        "UPDATE pushworker_delivery SET status = 'sent', finished_at = now(), updated_at = now(), "
        "next_attempt_at = NULL WHERE id = %(id)s",
        True,
    ),
    (
        "relay: unpublished outbox rows",
        "SELECT id FROM pushworker_delivery WHERE status = 'queued' AND published_at IS NULL "
        "ORDER BY created_at LIMIT 500",
        False,
    ),
    (
        "sweeper: stuck deliveries",
        "SELECT id FROM pushworker_delivery WHERE ((status = 'queued' AND published_at < "
        "now() - interval '120 s') OR (status = 'sending' AND updated_at < now() - "
        "interval '120 s' "
        "AND claimed_at < now() - interval '130 s') OR (status = 'retrying' AND next_attempt_at < "
        "now() - interval '120 s')) ORDER BY updated_at LIMIT 500",
        False,
    ),
    (
        "purge: select a batch (FOR UPDATE SKIP LOCKED)",
        "SELECT id FROM pushworker_delivery WHERE status IN ('sent', 'suppressed', 'failed') "
        "AND finished_at < now() - interval '30 days' ORDER BY finished_at LIMIT 1000 "
        "FOR UPDATE SKIP LOCKED",
        True,
    ),
    (
        "purge: a batch's rows (aggregate)",
        "SELECT id, finished_at, app_name, status, error_code FROM pushworker_delivery "
        "WHERE id = ANY(%(batch)s)",
        False,
    ),
    (
        "purge: a batch's platforms (aggregate)",
        "SELECT delivery_id, platform FROM pushworker_deliveryattempt "
        "WHERE delivery_id = ANY(%(batch)s)",
        False,
    ),
    (
        "purge: delete a batch's attempts",
        "DELETE FROM pushworker_deliveryattempt WHERE delivery_id = ANY(%(batch)s)",
        True,
    ),
    (
        "purge: delete a batch's deliveries",
        "DELETE FROM pushworker_delivery WHERE id = ANY(%(batch)s)",
        True,
    ),
    (
        "purge: dead letters",
        "SELECT id FROM pushworker_deadletter WHERE received_at < now() - interval '90 days' "
        "ORDER BY received_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
        True,
    ),
    # The admin as pushworker/web/admin/deliveries.py queries it: newest first on created_at,
    # 50 a page.
    (
        "admin: list page (newest first)",
        "SELECT id FROM pushworker_delivery ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: recipient filter (exact)",
        "SELECT id FROM pushworker_delivery WHERE recipient_id = %(recipient_id)s "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: subject_id (exact)",
        "SELECT id FROM pushworker_delivery WHERE subject_id = %(subject_id)s "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    # The search box ORs every exact field (DeliveryAdmin.get_search_results); each has an index
    # (message_id and trace_id partial ones, migration 0009), so the OR is a bitmap OR.
    (
        "admin: search box (recipient/subject/message/trace id)",
        "SELECT id FROM pushworker_delivery WHERE recipient_id = %(subject_id)s "
        "OR subject_id = %(subject_id)s OR message_id = %(subject_id)s "
        "OR trace_id = %(subject_id)s ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: search box, a Xiaomi trace id",
        "SELECT id FROM pushworker_delivery WHERE recipient_id = %(trace_id)s "
        "OR subject_id = %(trace_id)s OR message_id = %(trace_id)s "
        "OR trace_id = %(trace_id)s ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    # A hex-looking term (a short event id, or a numeric user id) also searches the event id as a
    # range of its unique index (the start of an id, padded with 0s and with fs).
    (
        "admin: search box, a short event id (range)",
        "SELECT id FROM pushworker_delivery WHERE recipient_id = %(short_id)s "
        "OR subject_id = %(short_id)s OR message_id = %(short_id)s OR trace_id = %(short_id)s "
        "OR (event_id >= %(event_low)s AND event_id <= %(event_high)s) "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: search event_id (exact)",
        "SELECT id FROM pushworker_delivery WHERE event_id = %(event_id)s LIMIT 50",
        False,
    ),
    (
        "admin: filter status=failed",
        "SELECT id FROM pushworker_delivery WHERE status IN ('failed') "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: filter status=dead",
        "SELECT id FROM pushworker_delivery WHERE status IN ('dead') "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: filter not delivered (open statuses)",
        "SELECT id FROM pushworker_delivery WHERE status IN ('queued', 'sending', 'retrying') "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: filter kind=order_shipped (none in the table)",
        "SELECT id FROM pushworker_delivery WHERE kind = 'order_shipped' "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: filter error_code=20301",
        "SELECT id FROM pushworker_delivery WHERE error_code = 20301 "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    (
        "admin: filter created last hour",
        "SELECT id FROM pushworker_delivery WHERE created_at >= now() - interval '1 hour' "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        False,
    ),
    # The paginator (pushworker/web/admin/paging.py) counts at most 10,001 rows, as Django sends it.
    (
        "admin: result count, bounded (COUNT of LIMIT 10001)",
        "SELECT COUNT(*) FROM (SELECT id AS col1 FROM pushworker_delivery "
        "ORDER BY created_at DESC, id DESC LIMIT 10001) subquery",
        False,
    ),
    (
        "admin: result count, bounded, status=dead",
        "SELECT COUNT(*) FROM (SELECT id AS col1 FROM pushworker_delivery WHERE status IN ('dead') "
        "ORDER BY created_at DESC, id DESC LIMIT 10001) subquery",
        False,
    ),
    # The filter choices (app, kind, status, error category) are fixed lists: no query at all.
]
