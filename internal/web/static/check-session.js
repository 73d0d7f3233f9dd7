// OpenID Connect Session Management 1.0, §3.2: the OP iframe. The relying party posts
// "client_id session_state"; the answer is "unchanged", "changed" or "error".
// session_state = base64url(SHA-256(client_id " " origin " " opbs " " salt)) "." salt,
// where opbs is the OP browser state cookie this page can read.
(function () {
  "use strict";
  var cookieName = document.documentElement.getAttribute("data-opbs-cookie");

  function opbs() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].substring(0, eq) === cookieName) {
        return parts[i].substring(eq + 1);
      }
    }
    return "";
  }

  function base64url(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function check(data, origin) {
    if (typeof data !== "string") {
      return Promise.resolve("error");
    }
    var parts = data.split(" ");
    var dot = parts.length === 2 ? parts[1].lastIndexOf(".") : -1;
    if (dot < 1) {
      return Promise.resolve("error");
    }
    var salt = parts[1].substring(dot + 1);
    var input = parts[0] + " " + origin + " " + opbs() + " " + salt;
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)).then(function (d) {
      return base64url(d) + "." + salt === parts[1] ? "unchanged" : "changed";
    });
  }

  window.addEventListener("message", function (e) {
    check(e.data, e.origin).then(function (answer) {
      e.source.postMessage(answer, e.origin);
    });
  }, false);

  // For tests: the same check without a message event.
  window.signetCheckSession = check;
})();
