"""The goods page of the README's example: every visit tells the goods' owner."""

from django.http import JsonResponse

from pushworker.tasks import send_goods_visit


def goods_detail(request, goods_id: int) -> JsonResponse:
    owner_id = request.GET.get("owner", "1")
    result = send_goods_visit.delay(owner_id, request.user.id, goods_id, f"goods {goods_id}")
    return JsonResponse({"event_id": result.id})
