// Users page: the claims box says whether its text is a JSON object while the operator types (the
// server checks again when the form is sent).
"use strict";

for (const box of document.querySelectorAll("textarea[data-json-object]")) {
  const problem = document.getElementById(box.getAttribute("aria-describedby"));
  const check = () => {
    let message = "";
    try {
      const value = JSON.parse(box.value);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        message = "Claims must be a JSON object, e.g. {\"admin\": true}.";
      }
    } catch (error) {
      message = "Not valid JSON: " + error.message;
    }
    box.setCustomValidity(message);
    box.setAttribute("aria-invalid", message ? "true" : "false");
    if (problem) problem.textContent = message;
  };
  box.addEventListener("input", check);
}
