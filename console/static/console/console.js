// The console's own behaviour, kept out of the pages (the Content-Security-Policy allows no inline
// script): a confirmation before every destructive form, and htmx error answers shown to the user.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// htmx does not swap 4xx/5xx answers by default; the console's partials for errors are meant to be
// shown (a form with its messages), so swap them too, except a 401's redirect to the sign-in page.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status >= 400 && status !== 401) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
