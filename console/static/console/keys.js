// Keys page: copy a new key's secret to the clipboard.
"use strict";

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch {
      window.getSelection().selectAllChildren(source);  // no clipboard access: select it instead
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}
