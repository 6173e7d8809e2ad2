"""Django management commands of pushworker."""
