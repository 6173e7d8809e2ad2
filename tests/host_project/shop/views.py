"""The goods page of the README's example: every visit, anonymous ones included, tells the owner."""

from django.http import JsonResponse

from pushworker.tasks import send_goods_visit
from shop.models import Goods


def goods_detail(request, goods_id: int) -> JsonResponse:
    goods = Goods.objects.get(pk=goods_id)
    # request.user.id is None for an anonymous visitor: a supported call (see the README).
    result = send_goods_visit.delay(goods.owner_id, request.user.id, goods.id, goods.name)
    return JsonResponse({"event_id": result.id})
