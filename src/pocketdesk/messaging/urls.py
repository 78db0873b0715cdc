from django.urls import path

from pocketdesk.messaging.views import email as email_views
from pocketdesk.messaging.views import meta, twilio
from pocketdesk.messaging.views import social as social_views

app_name = "messaging"

urlpatterns = [
    path("webhooks/twilio/sms", twilio.twilio_sms_inbound, name="twilio-sms"),
    path("webhooks/twilio/status", twilio.twilio_status, name="twilio-status"),
    path("webhooks/meta", meta.meta_webhook, name="meta"),
    path("webhooks/email/inbound", email_views.email_inbound, name="email-inbound"),
    path("webhooks/social", social_views.social_webhook, name="social"),
]
