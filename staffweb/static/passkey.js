// sigill staff web: passkeys (WebAuthn). Forms marked data-passkey are
// hidden until this script shows them, and only in a browser with
// WebAuthn: without it the pages work with password and code alone. On
// submit the script asks the form's begin route for the ceremony, hands
// the options to navigator.credentials, puts the authenticator's answer
// in the form and submits it; the server answers as for any form.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function bytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function b64url(buf) {
    var b = new Uint8Array(buf), bin = "";
    for (var i = 0; i < b.length; i++) {
      bin += String.fromCharCode(b[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // publicKey turns the server's JSON options into what the browser takes.
  function publicKey(o) {
    o.challenge = bytes(o.challenge);
    if (o.user) {
      o.user.id = bytes(o.user.id);
    }
    (o.excludeCredentials || []).concat(o.allowCredentials || []).forEach(function (c) {
      c.id = bytes(c.id);
    });
    return o;
  }

  // answer is the credential as JSON, as go-webauthn reads it.
  function answer(cred) {
    var r = cred.response;
    var out = {id: cred.id, rawId: b64url(cred.rawId), type: cred.type, response: {clientDataJSON: b64url(r.clientDataJSON)},
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}};
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = b64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = b64url(r.authenticatorData);
      out.response.signature = b64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = b64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  document.querySelectorAll("[data-passkey-nojs]").forEach(function (el) {
    el.hidden = true;
  });
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var create = form.dataset.passkey === "create";
    var fault = form.querySelector("[data-passkey-error]");
    var button = form.querySelector("button[type=submit]");
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (fault) {
        fault.hidden = true;
      }
      button.disabled = true;
      fetch(form.dataset.begin, {method: "POST", credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (res) {
          if (!res.ok) {
            throw new Error("begin: " + res.status);
          }
          return res.json();
        })
        .then(function (begun) {
          form.elements.ceremony.value = begun.ceremony;
          var options = {publicKey: publicKey(begun.options.publicKey)};
          return create ? navigator.credentials.create(options) : navigator.credentials.get(options);
        })
        .then(function (cred) {
          form.elements.credential.value = answer(cred);
          form.submit();
        })
        .catch(function () {
          if (fault) {
            fault.textContent = form.dataset.fail;
            fault.hidden = false;
          }
          button.disabled = false;
        });
    });
  });
})();
