"""Pages: the customer PWA shell and home, settings, the agent console and customer 360,
the employee layout, and the PWA plumbing (manifest, service worker, offline page)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import connection, transaction
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods

from pocketdesk.accounts.models import STAFF_ROLES, Role, User
from pocketdesk.core.errors import DomainError, NotFound
from pocketdesk.customers import selectors as customer_selectors
from pocketdesk.customers import services as customer_services
from pocketdesk.web.customer_panels import customer_panels
from pocketdesk.web.forms import SettingsForm
from pocketdesk.web.home import home_sections

SEARCH_RESULTS = 20


def require_role(request: HttpRequest, roles: frozenset[str] | set[str]) -> User:
    """The signed-in user when their role is one of `roles`; 403 otherwise."""
    user = request.user
    if not isinstance(user, User) or user.role not in roles:
        raise DjangoPermissionDenied
    return user


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = require_role(request, set(Role.values))
    role = user.role
    if role in STAFF_ROLES:
        return redirect("web:console")
    if role == Role.EMPLOYEE:
        return redirect("web:field")
    if role != Role.CUSTOMER:
        return redirect("api-v1:openapi-view")
    customer = customer_selectors.customer_of_user(actor=user)
    sections = []
    for section in home_sections():
        context = section.context(request, customer)
        if context is not None:
            sections.append((section, context))
    return render(request, "web/home.html", {"customer": customer, "sections": sections})


@login_required
@require_http_methods(["GET", "POST"])
def customer_settings(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, {Role.CUSTOMER})
    customer = customer_selectors.customer_of_user(actor=actor)
    consents = {c.purpose: c.granted for c in customer.consents.all()}
    windows = list(customer.send_windows.all())
    initial = {
        "language": customer.language,
        "time_zone": customer.time_zone,
        "alerts": consents.get("alerts", False),
        "marketing": consents.get("marketing", False),
    }
    if windows:
        initial["quiet_from"], initial["quiet_until"] = windows[0].ends_at, windows[0].starts_at
    form = SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # all of the form or none of it
                customer_services.preferences_update(
                    actor=actor,
                    customer=customer,
                    language=form.cleaned_data["language"],
                    time_zone=form.cleaned_data["time_zone"],
                    send_windows=form.send_windows(),
                )
                for purpose in form.consent_purposes():
                    customer_services.consent_set(
                        actor=actor,
                        customer=customer,
                        purpose=purpose,
                        granted=form.cleaned_data[purpose],
                        source="web",
                    )
        except DomainError as error:
            form.add_error(None, error.detail)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            response = redirect("web:settings")
            response.set_cookie("django_language", form.cleaned_data["language"], samesite="Lax")
            return response
    status = 422 if form.errors else 200
    return render(request, "web/settings.html", {"form": form, "customer": customer}, status=status)


@login_required
def console(request: HttpRequest) -> HttpResponse:
    actor = require_role(request, STAFF_ROLES)
    query = request.GET.get("q", "")
    results = []
    if query:
        results = list(
            customer_selectors.customer_search(actor=actor, query=query)[:SEARCH_RESULTS]
        )
    context = {"query": query, "results": results}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "web/console.html#search-results", context)
    return render(request, "web/console.html", context)


@login_required
def customer_360(request: HttpRequest, public_id: str) -> HttpResponse:
    actor = require_role(request, STAFF_ROLES)
    try:
        customer = customer_selectors.customer_360(actor=actor, public_id=public_id)
    except NotFound:
        return render(request, "web/not_found.html", status=404)
    return render(
        request,
        "web/customer_360.html",
        {"customer": customer, "panels": customer_panels(actor, customer)},
    )


@login_required
def field(request: HttpRequest) -> HttpResponse:
    require_role(request, {Role.EMPLOYEE, Role.ADMIN})
    return render(request, "web/field.html")


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> HttpResponse:
    response = render(request, "web/manifest.webmanifest", content_type="application/manifest+json")
    return response


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    response = render(request, "web/sw.js", content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "web/offline.html")


@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    """Liveness without the database: also the benchmarks' hello-world."""
    return HttpResponse(b"ok", content_type="text/plain")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness plus one indexed SELECT: also the benchmarks' bare endpoint."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_user WHERE id = %s", [1])
        cursor.fetchone()
    return JsonResponse({"ok": True})


def not_found_page(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request, "web/not_found.html", {"message": _("This page does not exist.")}, status=404
    )
