from django.urls import path

from pocketdesk.conversations import attachments, customer_views, link_views, views

app_name = "conversations"

urlpatterns: list = []

# The agents' console: the inbox and a conversation's thread (partials for live updates).
_thread = "console/conversations/<str:public_id>/"
urlpatterns += [
    path("console/inbox/", views.inbox_page, name="inbox"),
    path("console/inbox/rows/<str:public_id>/", views.inbox_row, name="inbox-row"),
    path("console/inbox/availability/", views.inbox_availability, name="inbox-availability"),
    path(_thread, views.thread_page, name="thread"),
    path(f"{_thread}reply/", views.thread_reply, name="thread-reply"),
    path(f"{_thread}notes/", views.thread_note, name="thread-note"),
    path(f"{_thread}manage/", views.thread_manage, name="thread-manage"),
    path(f"{_thread}controls/", views.thread_controls, name="thread-controls"),
    path(f"{_thread}messages/<str:message_id>/", views.thread_message, name="thread-message"),
    path(f"{_thread}callback-offer/", views.thread_callback_offer, name="thread-callback-offer"),
    path(f"{_thread}switch-link/", views.thread_switch_link, name="thread-switch-link"),
    path(
        f"{_thread}callbacks/<str:callback_id>/",
        views.thread_callback_change,
        name="thread-callback",
    ),
]

# The customer's chat in the app.
urlpatterns += [
    path("app/conversations/", customer_views.conversation_list, name="app-list"),
    path("app/conversations/new/", customer_views.conversation_new, name="app-new"),
    path(
        "app/conversations/<str:public_id>/",
        customer_views.conversation_thread,
        name="app-thread",
    ),
]

# Links customers get in a message: continue in the app, pick a callback slot.
urlpatterns += [
    path("app/switch/<str:token>/", link_views.switch_open, name="switch-open"),
    path("app/callback/<str:token>/", link_views.callback_pick, name="callback-pick"),
]

# Files customers sent: staff and the customer whose thread lists the file (at the storage's
# own /media/ address, so nothing else can serve it without the check).
urlpatterns += [
    path("media/attachments/<path:rest>", attachments.attachment, name="attachment"),
]
