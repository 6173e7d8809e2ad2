"""What pushworker serves over HTTP: the device API, the admin, health and metrics."""
