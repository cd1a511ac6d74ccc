import { Unauthorized } from "./api.js";
import { el, errorNote } from "./dom.js";

/**
 * A panel fills itself from the API on its own, so one failing endpoint leaves the others
 * standing. A refused token is not a panel's failure: it ends the session (back to the login).
 */

let onUnauthorized: (message: string) => void = () => {};

export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

/** What a call made outside a panel's fill (a live stream) does with its error. */
export function settle(error: unknown, otherwise: (error: unknown) => void): void {
  if (error instanceof Unauthorized) onUnauthorized(error.message);
  else otherwise(error);
}

export function panel(title: string, fill: (body: HTMLElement) => Promise<void>): HTMLElement {
  const body = el("div", { class: "body" }, el("p", { class: "loading" }, "Loading…"));
  const section = el("section", { class: "panel", "data-panel": title }, el("h2", {}, title), body);
  // data-state says when the panel has settled (ready or failed), for tests and styles.
  void (async () => {
    // Filled once the section is in the document, so charts measure their real width.
    await Promise.resolve();
    try {
      const content = el("div", {});
      body.replaceChildren(content);
      await fill(content);
      section.dataset.state = "ready";
    } catch (error) {
      if (error instanceof Unauthorized) {
        onUnauthorized(error.message);
        return;
      }
      body.replaceChildren(errorNote(error));
      section.dataset.state = "failed";
    }
  })();
  return section;
}
