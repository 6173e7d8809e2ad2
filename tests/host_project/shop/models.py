"""The shop's goods: what the README's example view looks up before telling the owner."""

from django.conf import settings
from django.db import models


class Goods(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
