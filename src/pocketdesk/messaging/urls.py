from django.urls import path

from pocketdesk.messaging.views import twilio

app_name = "messaging"

urlpatterns = [
    path("webhooks/twilio/sms", twilio.twilio_sms_inbound, name="twilio-sms"),
    path("webhooks/twilio/status", twilio.twilio_status, name="twilio-status"),
]
