# URL routes of the example project.
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("api/info", views.info, name="info"),
]
