// The Storage page: upload with a progress bar (the file is the raw request body, which the server
// streams into the bucket), image preview, and copying a signed link.
"use strict";

function csrfToken() {
  const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  return headers["X-CSRFToken"] || "";
}

function upload(form) {
  const input = form.querySelector("input[type=file]");
  const file = input.files[0];
  if (!file) return;
  const chosen = form.querySelector("[name=path]").value.trim();
  const path = chosen || form.dataset.prefix + file.name;
  const progress = form.querySelector("progress");
  const status = form.querySelector("[role=status]");
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.dataset.uploadUrl + "?path=" + encodeURIComponent(path));
  request.setRequestHeader("X-CSRFToken", csrfToken());
  // Like htmx's requests: a signed-out operator gets 401 (then the reload goes to sign-in), not a redirect.
  request.setRequestHeader("HX-Request", "true");
  request.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) {
      progress.value = Math.round((event.loaded / event.total) * 100);
      status.textContent = "Uploading " + path + ": " + progress.value + "%";
    }
  });
  request.addEventListener("load", () => {
    button.disabled = false;
    let answer = {};
    try { answer = JSON.parse(request.responseText); } catch (_) { answer = {}; }
    if (request.status === 201) {
      progress.value = 100;
      status.className = "ok";
      status.textContent = "Uploaded " + path + ".";
      window.setTimeout(() => window.location.reload(), 400);
    } else if (request.status === 401) {
      window.location.reload();
    } else {
      status.className = "error";
      const error = answer.error;
      const why = typeof error === "string" ? error : (error && error.message) || request.statusText || request.status;
      status.textContent = "Upload failed: " + why;
    }
  });
  request.addEventListener("error", () => {
    button.disabled = false;
    status.className = "error";
    status.textContent = "Upload failed: the connection was lost.";
  });
  progress.hidden = false;
  progress.value = 0;
  status.className = "";
  status.textContent = "Uploading " + path + "…";
  button.disabled = true;
  request.send(file);
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "upload-form") {
    event.preventDefault();
    upload(form);
  }
});

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const preview = target.closest("[data-preview]");
  if (preview) {
    const figure = document.getElementById("preview");
    document.getElementById("preview-image").src = preview.dataset.preview;
    document.getElementById("preview-image").alt = "Preview of " + preview.dataset.name;
    document.getElementById("preview-name").textContent = preview.dataset.name;
    figure.hidden = false;
    document.getElementById("preview-close").focus();
    return;
  }
  if (target.id === "preview-close") {
    document.getElementById("preview").hidden = true;
    document.getElementById("preview-image").removeAttribute("src");
    return;
  }
  const copy = target.closest("[data-copy]");
  if (copy) {
    const field = document.querySelector(copy.dataset.copy);
    const status = copy.parentElement.querySelector(".copy-status");
    const done = () => { status.textContent = "Copied."; };
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, () => {
        status.textContent = "Select the link and copy it (the browser refused the clipboard).";
      });
    } else {
      status.textContent = "Select the link and copy it.";
    }
  }
});
