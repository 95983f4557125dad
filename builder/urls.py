app_name = "builder"
urlpatterns: list = []
