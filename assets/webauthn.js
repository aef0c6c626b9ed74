/* Security keys and passkeys: the browser half of WebAuthn (dashboard/auth/webauthn_views.py is the server half).
 *
 * Buttons say what they do: #security-key-add (or data-webauthn="register") adds a key named in
 * #security-key-name; data-webauthn="second_factor" uses a key after the password; data-webauthn="passkey"
 * signs in with a passkey alone. The server's options carry binary fields as base64url; they are turned
 * into bytes for navigator.credentials and the answer back into base64url. Posts carry the CSRF token
 * from the _csrf_token cookie (or the page's form) in X-CSRFToken, like Dash's own callbacks.
 * On the Profile page (Dash) the result goes through dash_clientside.set_props; elsewhere into #webauthn-message.
 */
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var binary = atob(b64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/);
    if (match) { return decodeURIComponent(match[1]); }
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  async function post(path, body) {
    var response = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body || {})
    });
    var data = null;
    try { data = await response.json(); } catch (ignored) { data = null; }
    if (!response.ok || !data) {
      throw new Error((data && data.reason) || "That did not work. Reload the page and try again.");
    }
    return data;
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return options;
  }

  function asJSON(credential) {
    var r = credential.response;
    var out = {id: credential.id, rawId: toText(credential.rawId), type: credential.type,
               clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
               response: {clientDataJSON: toText(r.clientDataJSON)}};
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return out;
  }

  function explain(error) {
    var name = error && error.name;
    if (name === "NotAllowedError") { return "The key was not used, or it took too long. Try again."; }
    if (name === "InvalidStateError") { return "This key is already registered."; }
    if (name === "SecurityError") { return "Security keys work only on this site's own address."; }
    if (name === "NotSupportedError") { return "This browser or key does not support this kind of sign-in."; }
    return (error && error.message) || "That did not work. Try again.";
  }

  function say(text, ok) {
    var classes = "small mt-2 alert py-2 mb-0 " + (ok ? "alert-success" : "alert-danger");
    var dash = window.dash_clientside;
    if (document.getElementById("security-key-message") && dash && dash.set_props) {
      dash.set_props("security-key-message", {children: text, className: classes});
      return;
    }
    var box = document.getElementById("webauthn-message");
    if (box) { box.textContent = text; box.className = classes; }
  }

  async function register(button) {
    var nameField = document.getElementById("security-key-name");
    var passkeyBox = document.getElementById("security-key-passkey");
    var started = await post("/auth/webauthn/register/options", {
      name: nameField ? nameField.value : "", passkey: passkeyBox ? passkeyBox.checked : true});
    var credential = await navigator.credentials.create({publicKey: creationOptions(started.options)});
    var done = await post("/auth/webauthn/register/verify", {credential: asJSON(credential)});
    if (button.dataset.next) { window.location.assign(button.dataset.next); return; }
    say(done.message, true);
    if (nameField) { nameField.value = ""; }
    var dash = window.dash_clientside;
    if (dash && dash.set_props) {
      dash.set_props("security-key-name", {value: ""});
      dash.set_props("profile-keys-version", {data: Date.now()});
    }
  }

  async function signIn(mode, button) {
    var started = await post("/auth/webauthn/sign-in/options", {mode: mode});
    var credential = await navigator.credentials.get({publicKey: requestOptions(started.options)});
    var done = await post("/auth/webauthn/sign-in/verify", {credential: asJSON(credential), next: button.dataset.next || "/"});
    window.location.assign(done.redirect);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("#security-key-add, [data-webauthn]") : null;
    if (!button || button.disabled) { return; }
    event.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser cannot use security keys or passkeys.", false);
      return;
    }
    var mode = button.id === "security-key-add" ? "register" : button.dataset.webauthn;
    var work = mode === "register" ? register(button) : signIn(mode, button);
    button.disabled = true;
    say("Follow your browser's prompt: touch your key or confirm on this device…", true);
    work.then(function () { button.disabled = false; }, function (error) {
      button.disabled = false;
      say(explain(error), false);
    });
  });
}());
