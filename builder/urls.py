from django.urls import path

from builder import views

app_name = "builder"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:program>/rules/new", views.editor, name="rule-new"),
    path("<slug:program>/rules/<int:rule_id>", views.editor, name="rule-edit"),
]
