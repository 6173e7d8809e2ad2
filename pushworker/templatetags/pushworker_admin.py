"""``{% pushworker_overview %}``: the delivery overview, on its own page or the admin index."""

from django import template

register = template.Library()


@register.inclusion_tag("pushworker/admin/overview_body.html")
def pushworker_overview() -> dict:
    from pushworker.web.admin.overview import context

    return context()
