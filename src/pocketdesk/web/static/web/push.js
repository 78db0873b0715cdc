// "Turn on notifications": subscribes this browser to web push with the server's VAPID key and
// registers the subscription with pocketdesk (POST /api/v1/me/push-subscriptions); pressed
// again, turns them off (DELETE, then unsubscribe).
//
// Markup (labels come from the template, so they are translated):
//   <button type="button" hidden data-push-toggle
//           data-label-on="Turn on notifications" data-label-off="Turn off notifications"
//           data-label-blocked="Notifications are blocked in this browser's settings"></button>
// The button stays hidden where the browser has no push, or the server has no VAPID keys.
(() => {
  const API = "/api/v1/me/push-subscriptions";
  const button = document.querySelector("[data-push-toggle]");
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    return;
  }
  const label = (name, fallback) => button.dataset[name] || fallback;

  function csrfToken() {
    const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
    if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function call(method, path, body) {
    return fetch(API + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then((response) => {
      if (!response.ok) throw new Error(method + " " + API + path + ": " + response.status);
      return response.status === 204 ? null : response.json();
    });
  }

  function keyBytes(base64url) {
    const base64 = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  function sameKey(subscription, key) {
    const held = subscription.options && subscription.options.applicationServerKey;
    if (!held) return true; // the browser does not say: assume it is ours
    const a = new Uint8Array(held);
    return a.length === key.length && a.every((byte, i) => byte === key[i]);
  }

  // "busy" keeps the label and pressed state while a change is under way.
  function show(state) {
    button.hidden = false;
    button.disabled = state === "blocked" || state === "busy";
    button.setAttribute("aria-busy", state === "busy" ? "true" : "false");
    if (state !== "busy") button.setAttribute("aria-pressed", state === "on" ? "true" : "false");
    if (state === "on") button.textContent = label("labelOff", "Turn off notifications");
    else if (state === "blocked") button.textContent = label("labelBlocked", "Notifications are blocked in this browser's settings");
    else if (state === "off") button.textContent = label("labelOn", "Turn on notifications");
  }

  let serverKey = null;

  async function turnOn() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return show(permission === "denied" ? "blocked" : "off");
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription, serverKey)) {
      await subscription.unsubscribe();
      subscription = null;
    }
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
    }
    await call("POST", "", subscription.toJSON());
    show("on");
  }

  async function turnOff() {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await call("DELETE", "", { endpoint: subscription.endpoint }).catch(() => null);
      await subscription.unsubscribe();
    }
    show("off");
  }

  async function start() {
    const key = await call("GET", "/key").catch(() => null);
    if (!key) return; // no web push on this server
    serverKey = keyBytes(key.public_key);
    if (Notification.permission === "denied") return show("blocked");
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (subscription && Notification.permission === "granted" && sameKey(subscription, serverKey)) {
      // Posted on every visit: the server learns a renewed endpoint, and a login on a shared
      // device takes the device's notifications over.
      await call("POST", "", subscription.toJSON()).catch(() => null);
      show("on");
    } else {
      show("off");
    }
    button.addEventListener("click", () => {
      const on = button.getAttribute("aria-pressed") === "true";
      show("busy");
      (on ? turnOff() : turnOn()).catch(() => show(on ? "on" : "off"));
    });
  }

  start().catch(() => undefined);
})();
