from django.urls import path

from pocketdesk.messaging import views

app_name = "messaging"

urlpatterns = [
    path("webhooks/twilio/sms", views.twilio_sms_inbound, name="twilio-sms"),
]
