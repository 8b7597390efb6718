# Two views: plain text, and JSON describing the request the worker handed to Django.
import os

from django.http import HttpResponse, JsonResponse


def index(request):
    return HttpResponse("Hello from Django on Unicorn!\n", content_type="text/plain; charset=utf-8")


def info(request):
    return JsonResponse({
        "framework": "django",
        "pid": os.getpid(),
        "method": request.method,
        "path": request.path,
        "host": request.get_host(),
        "query": request.GET.dict(),
    })
