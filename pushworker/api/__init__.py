"""The documented old path of the device API's URLs (``pushworker.api.urls``)."""
