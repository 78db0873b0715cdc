// Web push in the service worker (sw.js pulls this in with importScripts): shows pocketdesk's
// notifications and opens the app at the page a notification points to.
// A push carries JSON {"title", "body", "url", "tag"}; a notification with the tag of one
// already shown replaces it, so a push sent twice is seen once.
(() => {
  const ICON = "/static/web/icon.svg";
  const FALLBACK_URL = "/app/conversations/";

  // Only pages of this site open from a notification.
  function sameOriginUrl(raw) {
    try {
      const url = new URL(raw || FALLBACK_URL, self.location.origin);
      return url.origin === self.location.origin ? url.href : new URL(FALLBACK_URL, self.location.origin).href;
    } catch (error) {
      return new URL(FALLBACK_URL, self.location.origin).href;
    }
  }

  function readPush(data) {
    if (!data) return {};
    try {
      const parsed = data.json();
      return parsed && typeof parsed === "object" ? parsed : { body: String(parsed) };
    } catch (error) {
      return { body: data.text() };
    }
  }

  self.addEventListener("push", (event) => {
    const push = readPush(event.data);
    const title = String(push.title || "pocketdesk");
    const options = {
      body: String(push.body || ""),
      icon: ICON,
      badge: ICON,
      data: { url: sameOriginUrl(push.url) },
    };
    if (push.tag) options.tag = String(push.tag);
    event.waitUntil(self.registration.showNotification(title, options));
  });

  self.addEventListener("notificationclick", (event) => {
    event.notification.close();
    const target = sameOriginUrl(event.notification.data && event.notification.data.url);
    event.waitUntil(
      self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
        const exact = windows.find((client) => client.url === target && "focus" in client);
        if (exact) return exact.focus();
        const open = windows.find((client) => "navigate" in client && "focus" in client);
        if (open) return open.navigate(target).then((client) => (client || open).focus());
        return self.clients.openWindow(target);
      })
    );
  });

  // The browser renewed the subscription (new endpoint or keys): subscribe again with the same
  // server key. push.js posts the current subscription on the next page load, which registers
  // it with the server; the old endpoint answers 410 and is retired there.
  self.addEventListener("pushsubscriptionchange", (event) => {
    const old = event.oldSubscription;
    if (event.newSubscription || !old || !old.options || !old.options.applicationServerKey) return;
    event.waitUntil(
      self.registration.pushManager
        .subscribe({ userVisibleOnly: true, applicationServerKey: old.options.applicationServerKey })
        .catch(() => undefined)
    );
  });
})();
