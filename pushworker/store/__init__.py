"""The state pushworker keeps: every query and write of its rows is in this package."""
