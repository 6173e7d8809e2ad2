"""What every layer reports to operators: Prometheus metrics, JSON log lines, error reports."""
