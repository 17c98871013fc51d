// The Collections page: rules checked as the operator types. Each rule textarea is sent (debounced)
// to the server's rules parser; an error is shown with the line it is on and a caret under its
// column, and the textarea is marked invalid. Saving still goes through the service, which refuses
// an invalid rule whatever this script did.
"use strict";

(() => {
  const DELAY_MS = 250;
  const csrfToken = () => {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  };

  function show(textarea, status, answer) {
    status.replaceChildren();
    if (answer.ok) {
      textarea.removeAttribute("aria-invalid");
      if (!answer.empty) {
        const fine = document.createElement("p");
        fine.className = "ok";
        fine.textContent = "Valid rule.";
        status.append(fine);
      }
      return;
    }
    textarea.setAttribute("aria-invalid", "true");
    const message = document.createElement("p");
    message.className = "error rule-error";
    message.textContent = answer.message;
    const lines = textarea.value.split("\n");
    const where = document.createElement("pre");
    where.className = "rule-position";
    where.textContent = (lines[answer.line - 1] || "") + "\n" + " ".repeat(Math.max(0, answer.column - 1)) + "^";
    status.append(message, where);
  }

  function watch(textarea) {
    const status = document.getElementById(textarea.getAttribute("aria-describedby"));
    let timer = null;
    let sent = 0;
    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const mine = ++sent;
        const body = new URLSearchParams({ operation: textarea.dataset.ruleOperation, text: textarea.value });
        const response = await fetch(textarea.dataset.checkUrl, {
          method: "POST",
          headers: { "X-CSRFToken": csrfToken() },
          body,
          credentials: "same-origin",
        });
        if (mine !== sent) return; // a later check is on its way
        if (response.status === 401) {
          window.location.reload();
          return;
        }
        if (response.ok) show(textarea, status, await response.json());
      }, DELAY_MS);
    });
  }

  document.querySelectorAll("textarea[data-rule-operation]").forEach(watch);
})();
