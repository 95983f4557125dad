from django.urls import path

from builder.portal.views import pages, signin

app_name = "portal"
P = "<slug:program>/"
urlpatterns = [
    path(P, pages.home, name="home"),
    path(P + "signin", signin.signin, name="signin"),
    path(P + "signin/link", signin.signin_link, name="signin-link"),
    path(P + "signout", signin.signout, name="signout"),
    path(P + "join", signin.join, name="join"),
    path(P + "rewards", pages.rewards, name="rewards"),
    path(P + "rewards/<int:reward_id>", pages.reward_detail, name="reward"),
    path(P + "payouts", pages.payouts, name="payouts"),
    path(P + "payouts/<int:item_id>", pages.payout_detail, name="payout"),
    path(P + "payouts/<int:item_id>/statement.csv", pages.payout_statement, name="statement"),
    path(P + "downline", pages.downline, name="downline"),
    path(P + "links", pages.links, name="links"),
    path(P + "links/<int:link_id>", pages.link_detail, name="link"),
    path(P + "payout-details", pages.payout_details, name="payout-details"),
    path(P + "preferences", pages.preferences, name="preferences"),
]
