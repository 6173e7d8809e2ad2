"""``manage.py pushworker_check`` and friends."""
