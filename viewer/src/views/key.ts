// The API key prompt: shown when the service answers 401 (ApiKeys:Keys is configured). The key is kept in
// sessionStorage by the client and sent as X-API-Key; it never goes into the URL.

import { setKeyProvider } from "../api/client.js";
import { byId } from "../app.js";

export function installKeyPrompt(): void {
  const dialog = byId<HTMLDialogElement>("key-dialog");
  const form = byId<HTMLFormElement>("key-form");
  const input = byId<HTMLInputElement>("api-key");
  const message = byId<HTMLElement>("key-message");
  const cancel = byId<HTMLButtonElement>("key-cancel");
  setKeyProvider(
    (rejected) =>
      new Promise<string | null>((resolve) => {
        message.textContent = rejected
          ? "The service refused that key (401). Enter another one."
          : "The service asks for an API key (401). It is kept for this tab only (sessionStorage) and sent as X-API-Key.";
        dialog.dataset.rejected = String(rejected);
        input.value = "";
        const finish = (key: string | null) => {
          form.removeEventListener("submit", onSubmit);
          cancel.removeEventListener("click", onCancel);
          dialog.removeEventListener("cancel", onCancel);
          dialog.close();
          resolve(key);
        };
        const onSubmit = (event: Event) => {
          event.preventDefault();
          const key = input.value.trim();
          finish(key.length > 0 ? key : null);
        };
        const onCancel = (event: Event) => {
          event.preventDefault();
          finish(null);
        };
        form.addEventListener("submit", onSubmit);
        cancel.addEventListener("click", onCancel);
        dialog.addEventListener("cancel", onCancel);
        dialog.showModal();
        input.focus();
      }),
  );
}
