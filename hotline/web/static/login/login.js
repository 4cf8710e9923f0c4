// Log in with user name and password; the server sets the session cookie.
"use strict";
(function () {
  const form = document.getElementById("login-form");
  const shown = document.getElementById("login-error");

  function nextPage(home) {
    const next = new URLSearchParams(location.search).get("next");
    // Only a path on this site: never follow ?next= to another origin.
    return next && next.startsWith("/") && !next.startsWith("//") ? next : home;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    shown.hidden = true;
    const body = {
      user: document.getElementById("user").value.trim(),
      password: document.getElementById("password").value,
    };
    let response;
    try {
      response = await fetch("/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (error) {
      shown.textContent = "Hotline cannot be reached; try again.";
      shown.hidden = false;
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      shown.textContent = data.error || "Login failed";
      shown.hidden = false;
      return;
    }
    location.assign(nextPage(data.home));
  });
})();
